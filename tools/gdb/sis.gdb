# gdb-multiarch's start-up for `make gdb`: SIS's symbols (build/Image.elf: the shim's C
# functions and the lowered kernel's, whose names are wasm2c's spelling of the
# AssemblyScript ones: w2c_kernel_kernel0x2Fconsole0x2Fprintln is kernel/console/println),
# and a stop at any unexpected CPU exception, before the shim prints its report.
set pagination off
set confirm off
set architecture aarch64
break sis_exception
echo \nSIS: stopped at the first instruction. 'c' boots; an unexpected CPU exception stops in sis_exception\n
echo (then 'bt' walks the frames; 'info registers' and 'x/8gx $x0' read the saved ones).\n
echo Break on a kernel function by its wasm2c name, e.g. 'break w2c_kernel_kernel0x2Fmain0x2Fkernel_poll'\n
echo (Tab completes: 'break w2c_kernel_llm0x2F<Tab>'). Ctrl-C stops all cores; 'info threads' lists them.\n
