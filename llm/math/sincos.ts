// sincosf as glibc computes it (sysdeps/ieee754/flt-32, Arm's optimized-routines algorithm:
// range reduction and polynomials in f64, one rounding to f32). llama.cpp's RoPE cache calls
// the C library's sincosf, and glibc's picks a different last bit than AssemblyScript's
// Mathf.sin/cos (musl's older kernels) for about one angle in fifty; the rotated queries and
// keys, and so every later logit, follow that bit.

// @ts-ignore: decorator
@inline function f64b(bits: u64): f64 { return reinterpret<f64>(bits); }

// glibc's __sincosf_table: the second entry has the cosine polynomial negated.
const SC_HPI_INV = f64b(0x41645f306dc9c883);   // 2/pi * 2^24
const SC_HPI = f64b(0x3ff921fb54442d18);       // pi/2
const SC_C1 = f64b(0xbfdffffffd0c621c);
const SC_C2 = f64b(0x3fa55553e1068f19);
const SC_C3 = f64b(0xbf56c087e89a359d);
const SC_C4 = f64b(0x3ef99343027bf8c3);
const SC_S1 = f64b(0xbfc555545995a603);
const SC_S2 = f64b(0x3f81107605230bc4);
const SC_S3 = f64b(0xbf2994eb3774cf24);
const SC_PI63 = f64b(0x3c1921fb54442d18);      // 2pi * 2^-64

// 4/pi in 32-bit windows 8 bits apart (glibc's __inv_pio4), for arguments of 120 and more.
const INV_PIO4: StaticArray<u32> = [
  0xa2, 0xa2f9, 0xa2f983, 0xa2f9836e, 0xf9836e4e, 0x836e4e44, 0x6e4e4415, 0x4e441529,
  0x441529fc, 0x1529fc27, 0x29fc2757, 0xfc2757d1, 0x2757d1f5, 0x57d1f534, 0xd1f534dd, 0xf534ddc0,
  0x34ddc0db, 0xddc0db62, 0xc0db6295, 0xdb629599, 0x6295993c, 0x95993c43, 0x993c4390, 0x3c439041,
];

// @ts-ignore: decorator
@inline function abstop12(x: f32): u32 { return (reinterpret<u32>(x) >> 20) & 0x7ff; }

/** sincosf(y) as glibc computes it: stores cos at out and sin at out+4. */
export function sincosGlibc(y: f32, out: usize): void {
  let x = <f64>y;
  let n = 0, q = 0;                      // quadrant; q picks the signs
  if (abstop12(y) >= abstop12(Infinity)) {
    store<f32>(out, y - y);
    store<f32>(out, y - y, 4);
    return;
  }
  if (abstop12(y) < abstop12(<f32>0.78539816)) {
    if (abstop12(y) < abstop12(<f32>0.000244140625)) {   // |y| < 2^-12
      store<f32>(out, 1);
      store<f32>(out, y, 4);
      return;
    }
  } else if (abstop12(y) < abstop12(<f32>120)) {
    // one multiply-subtract with pi/2; the quadrant from 2/pi scaled by 2^24
    n = (<i32>(x * SC_HPI_INV) + 0x800000) >> 24;
    x = x - <f64>n * SC_HPI;
    q = n;
  } else {
    // 4/pi to 192 bits: a 32x96-bit product gives the angle modulo pi/2 in 2.62 fixed point
    let xi = reinterpret<u32>(y);
    const w = (xi >> 26) & 15;
    xi = ((xi & 0xffffff) | 0x800000) << ((xi >> 23) & 7);
    let r = (<u64>(xi * unchecked(INV_PIO4[w])) << 32) | ((<u64>xi * <u64>unchecked(INV_PIO4[w + 8])) >> 32);
    r += <u64>xi * <u64>unchecked(INV_PIO4[w + 4]);
    const m = (r + (<u64>1 << 61)) >> 62;
    r -= m << 62;
    n = <i32>m;
    q = n + <i32>(reinterpret<u32>(y) >> 31);
    x = <f64><i64>r * SC_PI63;
  }
  const x2 = x * x;
  if (((q & 3) == 1) || ((q & 3) == 2)) x = -x;
  const neg = (q & 2) != 0;
  const c0: f64 = neg ? -1.0 : 1.0;
  const x4 = x2 * x2, x3 = x2 * x;
  const c2 = (neg ? -SC_C3 : SC_C3) + x2 * (neg ? -SC_C4 : SC_C4);
  const s1 = SC_S2 + x2 * SC_S3;
  const c1 = c0 + x2 * (neg ? -SC_C1 : SC_C1);
  const x5 = x3 * x2, x6 = x4 * x2;
  const s = x + x3 * SC_S1;
  const c = c1 + x4 * (neg ? -SC_C2 : SC_C2);
  const sv = <f32>(s + x5 * s1), cv = <f32>(c + x6 * c2);
  store<f32>(out, (n & 1) != 0 ? sv : cv);
  store<f32>(out, (n & 1) != 0 ? cv : sv, 4);
}
