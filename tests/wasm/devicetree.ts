// Test entry for kernel/lib/fdt.ts and kernel/devicetree.ts: a DTB in linear memory, read
// and described as the boot log describes the machine.
import { allocRegion, freeRegion } from "../../kernel/memory/regions";
import { Fdt } from "../../kernel/lib/fdt";
import { describeTree, describeLines } from "../../kernel/devicetree";

export { allocRegion, freeRegion };

/** "error: ..." or the description as JSON (numbers as hex strings) and the boot log's lines. */
export function describeBlob(p: usize, n: u32): string {
  const r = Fdt.parse(p, n);
  if (r.fdt === null) return "error: " + r.error;
  const hw = describeTree(r.fdt!);
  const hexes = (a: Array<u64>): string => {
    let s = "[";
    for (let i = 0; i < a.length; i++) s += (i > 0 ? "," : "") + "\"0x" + a[i].toString(16) + "\"";
    return s + "]";
  };
  const lines = describeLines(hw);
  let l = "[";
  for (let i = 0; i < lines.length; i++) l += (i > 0 ? "," : "") + "\"" + lines[i] + "\"";
  l += "]";
  return "{\"model\":\"" + hw.model + "\",\"memory\":" + hexes(hw.memory) + ",\"uart\":\"0x" + hw.uart.toString(16) +
    "\",\"gic\":" + hw.gicVersion.toString() + ",\"gicDist\":\"0x" + hw.gicDist.toString(16) + "\",\"gicCpu\":\"0x" + hw.gicCpu.toString(16) +
    "\",\"psci\":\"" + hw.psci + "\",\"cpus\":" + hexes(hw.cpus) + ",\"virtio\":" + hexes(hw.virtio) + ",\"rtc\":\"0x" + hw.rtc.toString(16) +
    "\",\"timer\":" + (hw.timer ? "true" : "false") + ",\"nodes\":" + r.fdt!.nodes.length.toString() + ",\"lines\":" + l + "}";
}
