/* The shim's own setjmp/longjmp (boot/arch.S): callee-saved x19-x30, sp, d8-d15. */
#pragma once
typedef unsigned long long jmp_buf[22];
int sis_setjmp(jmp_buf env) __attribute__((returns_twice));
void sis_longjmp(jmp_buf env, int val) __attribute__((noreturn));
#define setjmp(b) sis_setjmp(b)
#define longjmp(b, v) sis_longjmp(b, v)
#define sigsetjmp(b, s) sis_setjmp(b)
#define siglongjmp(b, v) sis_longjmp(b, v)
