// Numbers as nlohmann::json reads and writes them, so that a schema's constants come out of
// the converter with the same text as llama.cpp's:
//   - parseDouble: correctly rounded decimal -> double (what strtod gives): a close guess,
//     then exact big-integer comparisons against the halfway points of its neighbours;
//   - formatDouble: nlohmann's serializer (Grisu2 digits, the same as its dtoa_impl, then
//     fixed notation for exponents -4..15 with ".0" on integral values, "1e+20" style
//     otherwise; "-0.0"; "null" for non-finite values).

// ---- decimal -> double ----

/** Little-endian 32-bit limbs of a non-negative integer. */
class Big {
  limbs: Array<u32> = new Array<u32>();

  static of(v: u64): Big {
    const b = new Big();
    while (v != 0) { b.limbs.push(<u32>v); v >>= 32; }
    return b;
  }
  /** this = this * m + add */
  mulAdd(m: u32, add: u32): void {
    let carry: u64 = add;
    for (let i = 0; i < this.limbs.length; i++) {
      const t = <u64>this.limbs[i] * <u64>m + carry;
      this.limbs[i] = <u32>t;
      carry = t >> 32;
    }
    if (carry != 0) this.limbs.push(<u32>carry);
  }
  mulPow5(n: i32): void {
    while (n >= 13) { this.mulAdd(1220703125, 0); n -= 13; }
    let p: u32 = 1;
    for (let i = 0; i < n; i++) p *= 5;
    if (p != 1) this.mulAdd(p, 0);
  }
  shl(n: i32): void {
    if (this.limbs.length == 0) return;
    const words = n >> 5, bits = n & 31;
    if (bits != 0) {
      let carry: u32 = 0;
      for (let i = 0; i < this.limbs.length; i++) {
        const v = this.limbs[i];
        this.limbs[i] = (v << bits) | carry;
        carry = v >> (32 - bits);
      }
      if (carry != 0) this.limbs.push(carry);
    }
    if (words > 0) {
      const out = new Array<u32>(words);
      for (let i = 0; i < this.limbs.length; i++) out.push(this.limbs[i]);
      this.limbs = out;
    }
  }
  static cmp(a: Big, b: Big): i32 {
    let na = a.limbs.length, nb = b.limbs.length;
    while (na > 0 && a.limbs[na - 1] == 0) na--;
    while (nb > 0 && b.limbs[nb - 1] == 0) nb--;
    if (na != nb) return na < nb ? -1 : 1;
    for (let i = na - 1; i >= 0; i--) {
      const x = a.limbs[i], y = b.limbs[i];
      if (x != y) return x < y ? -1 : 1;
    }
    return 0;
  }
}

const MAX_DIGITS = 800; // more than a double's longest exact decimal expansion needs (767)

/** Significand digits and exponent of a decimal number: value = digits * 10^exp (+ a nonzero tail when sticky). */
class Decimal {
  digits: string = "";
  exp: i32 = 0;
  sticky: bool = false;
  negative: bool = false;
}

function isDigit(c: i32): bool { return c >= 0x30 && c <= 0x39; }

/** Splits a number in JSON syntax (also accepts a leading '+', a missing integral or fraction part). */
function decimalOf(text: string): Decimal {
  const d = new Decimal();
  let i = 0;
  const n = text.length;
  if (i < n && (text.charCodeAt(i) == 0x2d || text.charCodeAt(i) == 0x2b)) { d.negative = text.charCodeAt(i) == 0x2d; i++; }
  const parts = new Array<string>();
  let kept = 0, afterPoint = 0, dropped = 0;
  let seenPoint = false;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c == 0x2e) { seenPoint = true; continue; }
    if (!isDigit(c)) break;
    if (seenPoint) afterPoint++;
    if (kept == 0 && c == 0x30) continue; // leading zeros
    if (kept < MAX_DIGITS) { parts.push(String.fromCharCode(c)); kept++; }
    else { dropped++; if (c != 0x30) d.sticky = true; }
  }
  let e = 0;
  if (i < n && (text.charCodeAt(i) | 0x20) == 0x65) {
    i++;
    let neg = false;
    if (i < n && (text.charCodeAt(i) == 0x2d || text.charCodeAt(i) == 0x2b)) { neg = text.charCodeAt(i) == 0x2d; i++; }
    for (; i < n && isDigit(text.charCodeAt(i)); i++) {
      if (e < 100000000) e = e * 10 + (text.charCodeAt(i) - 0x30);
    }
    if (neg) e = -e;
  }
  d.digits = parts.join("");
  d.exp = e - afterPoint + dropped;
  return d;
}

function bigOfDigits(s: string): Big {
  const b = new Big();
  let i = 0;
  while (i < s.length) {
    let chunk: u32 = 0, mul: u32 = 1;
    for (let j = 0; j < 9 && i < s.length; j++, i++) { chunk = chunk * 10 + <u32>(s.charCodeAt(i) - 0x30); mul *= 10; }
    b.mulAdd(mul, chunk);
  }
  return b;
}

/** Significand and binary exponent of a non-negative double given by its bits (the bits of +Inf stand for 2^1024). */
function mantissa(bits: u64): u64 {
  const ex = <i32>(bits >> 52);
  const fr = bits & 0xfffffffffffff;
  return ex == 0 ? fr : fr | 0x10000000000000;
}
function exponent2(bits: u64): i32 {
  const ex = <i32>(bits >> 52);
  return ex == 0 ? -1074 : ex - 1075;
}

/** Sign of (digits * 10^exp) minus the midpoint of the adjacent doubles with bits a < b. */
function compareHalfway(m: Big, d: Decimal, a: u64, b: u64): i32 {
  const ea = exponent2(a), eb = exponent2(b);
  const e = min(ea, eb);
  const s = (mantissa(a) << <u64>(ea - e)) + (mantissa(b) << <u64>(eb - e)); // midpoint = s * 2^(e-1)
  const lhs = new Big();
  lhs.limbs = m.limbs.slice(0);
  const rhs = Big.of(s);
  if (d.exp >= 0) lhs.mulPow5(d.exp); else rhs.mulPow5(-d.exp);
  const p = d.exp - (e - 1);
  if (p > 0) lhs.shl(p); else if (p < 0) rhs.shl(-p);
  const c = Big.cmp(lhs, rhs);
  return c == 0 && d.sticky ? 1 : c;
}

const POW10: StaticArray<f64> = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
  1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/** The double nearest to the decimal number text (JSON number syntax), ties to even; +-Infinity beyond the range. */
export function parseDouble(text: string): f64 {
  const d = decimalOf(text);
  const sign: f64 = d.negative ? -1.0 : 1.0;
  const nd = d.digits.length;
  if (nd == 0) return sign * 0.0;
  if (nd + d.exp > 310) return sign * Infinity;
  if (nd + d.exp < -330) return sign * 0.0;
  // exact operands, one rounding (Clinger's fast path)
  if (nd <= 15 && !d.sticky && d.exp >= -22 && d.exp <= 22) {
    const v = <f64>I64.parseInt(d.digits);
    return sign * (d.exp >= 0 ? v * POW10[d.exp] : v / POW10[-d.exp]);
  }
  // a guess within a few units in the last place: 19 digits, scaled by exact powers of ten
  const top = min(nd, 19);
  let guess = <f64>U64.parseInt(d.digits.substring(0, top));
  let e = d.exp + (nd - top);
  while (e > 22 && guess < Infinity) { guess *= 1e22; e -= 22; }
  while (e < -22 && guess > 0) { guess /= 1e22; e += 22; }
  guess = e >= 0 ? guess * POW10[e] : guess / POW10[-e];
  if (!(guess < Infinity)) guess = f64.MAX_VALUE;
  let x = reinterpret<u64>(guess);
  const m = bigOfDigits(d.digits);
  const INF: u64 = 0x7ff0000000000000;
  for (let iter = 0; iter < 200; iter++) {
    const up = x + 1;
    const c = compareHalfway(m, d, x, up);
    if (c > 0) { x = up; if (x == INF) break; continue; }
    if (c == 0) { if ((x & 1) != 0) x = up; break; }
    if (x == 0) break;
    const down = x - 1;
    const c2 = compareHalfway(m, d, down, x);
    if (c2 < 0) { x = down; continue; }
    if (c2 == 0 && (x & 1) != 0) x = down;
    break;
  }
  return sign * reinterpret<f64>(x);
}

// ---- double -> text (nlohmann's dtoa_impl: Grisu2 and format_buffer) ----

const CACHED_F: StaticArray<u64> = [
  0xAB70FE17C79AC6CA, 0xFF77B1FCBEBCDC4F, 0xBE5691EF416BD60C, 0x8DD01FAD907FFC3C, 0xD3515C2831559A83, 
  0x9D71AC8FADA6C9B5, 0xEA9C227723EE8BCB, 0xAECC49914078536D, 0x823C12795DB6CE57, 0xC21094364DFB5637, 
  0x9096EA6F3848984F, 0xD77485CB25823AC7, 0xA086CFCD97BF97F4, 0xEF340A98172AACE5, 0xB23867FB2A35B28E, 
  0x84C8D4DFD2C63F3B, 0xC5DD44271AD3CDBA, 0x936B9FCEBB25C996, 0xDBAC6C247D62A584, 0xA3AB66580D5FDAF6, 
  0xF3E2F893DEC3F126, 0xB5B5ADA8AAFF80B8, 0x87625F056C7C4A8B, 0xC9BCFF6034C13053, 0x964E858C91BA2655, 
  0xDFF9772470297EBD, 0xA6DFBD9FB8E5B88F, 0xF8A95FCF88747D94, 0xB94470938FA89BCF, 0x8A08F0F8BF0F156B, 
  0xCDB02555653131B6, 0x993FE2C6D07B7FAC, 0xE45C10C42A2B3B06, 0xAA242499697392D3, 0xFD87B5F28300CA0E, 
  0xBCE5086492111AEB, 0x8CBCCC096F5088CC, 0xD1B71758E219652C, 0x9C40000000000000, 0xE8D4A51000000000, 
  0xAD78EBC5AC620000, 0x813F3978F8940984, 0xC097CE7BC90715B3, 0x8F7E32CE7BEA5C70, 0xD5D238A4ABE98068, 
  0x9F4F2726179A2245, 0xED63A231D4C4FB27, 0xB0DE65388CC8ADA8, 0x83C7088E1AAB65DB, 0xC45D1DF942711D9A, 
  0x924D692CA61BE758, 0xDA01EE641A708DEA, 0xA26DA3999AEF774A, 0xF209787BB47D6B85, 0xB454E4A179DD1877, 
  0x865B86925B9BC5C2, 0xC83553C5C8965D3D, 0x952AB45CFA97A0B3, 0xDE469FBD99A05FE3, 0xA59BC234DB398C25, 
  0xF6C69A72A3989F5C, 0xB7DCBF5354E9BECE, 0x88FCF317F22241E2, 0xCC20CE9BD35C78A5, 0x98165AF37B2153DF, 
  0xE2A0B5DC971F303A, 0xA8D9D1535CE3B396, 0xFB9B7CD9A4A7443C, 0xBB764C4CA7A44410, 0x8BAB8EEFB6409C1A, 
  0xD01FEF10A657842C, 0x9B10A4E5E9913129, 0xE7109BFBA19C0C9D, 0xAC2820D9623BF429, 0x80444B5E7AA7CF85, 
  0xBF21E44003ACDD2D, 0x8E679C2F5E44FF8F, 0xD433179D9C8CB841, 0x9E19DB92B4E31BA9
];
const CACHED_E: StaticArray<i32> = [
  -1060, -1034, -1007, -980, -954, -927, -901, -874, -847, -821, -794, -768, -741, -715, -688, -661, -635, 
  -608, -582, -555, -529, -502, -475, -449, -422, -396, -369, -343, -316, -289, -263, -236, -210, -183, -157, 
  -130, -103, -77, -50, -24, 3, 30, 56, 83, 109, 136, 162, 189, 216, 242, 269, 295, 322, 348, 375, 402, 428, 
  455, 481, 508, 534, 561, 588, 614, 641, 667, 694, 720, 747, 774, 800, 827, 853, 880, 907, 933, 960, 986, 1013
];

/** High 64 bits of x * y, rounded (ties up), as dtoa_impl's diyfp::mul. */
function mulHi(x: u64, y: u64): u64 {
  const uLo = x & 0xffffffff, uHi = x >> 32, vLo = y & 0xffffffff, vHi = y >> 32;
  const p0 = uLo * vLo, p1 = uLo * vHi, p2 = uHi * vLo, p3 = uHi * vHi;
  let q = (p0 >> 32) + (p1 & 0xffffffff) + (p2 & 0xffffffff);
  q += <u64>1 << 31;
  return p3 + (p2 >> 32) + (p1 >> 32) + (q >> 32);
}

/** Grisu2's digits of a positive finite double: digits (a string) and the decimal exponent. */
class Grisu {
  buf: Array<i32> = new Array<i32>();
  exp: i32 = 0;
}

function grisuRound(g: Grisu, dist: u64, delta: u64, rest: u64, tenK: u64): void {
  const last = g.buf.length - 1;
  while (rest < dist && delta - rest >= tenK && (rest + tenK < dist || dist - rest > rest + tenK - dist)) {
    g.buf[last] = g.buf[last] - 1;
    rest += tenK;
  }
}

function grisu2(value: f64): Grisu {
  // boundaries of value: v = f * 2^e, m- and m+ halfway to the neighbours
  const bits = reinterpret<u64>(value);
  const E = bits >> 52;
  const F = bits & 0xfffffffffffff;
  let vf: u64, ve: i32;
  if (E == 0) { vf = F; ve = -1074; } else { vf = F + 0x10000000000000; ve = <i32>E - 1075; }
  const lowerCloser = F == 0 && E > 1;
  let pf = 2 * vf + 1, pe = ve - 1;
  let mf: u64, me: i32;
  if (lowerCloser) { mf = 4 * vf - 1; me = ve - 2; } else { mf = 2 * vf - 1; me = ve - 1; }
  // normalize m+; m- to the same exponent; v normalized
  while ((pf >> 63) == 0) { pf <<= 1; pe--; }
  mf <<= <u64>(me - pe); me = pe;
  let wf = vf, we = ve;
  while ((wf >> 63) == 0) { wf <<= 1; we--; }
  // a cached power of ten bringing the exponent into [-60, -32]
  const f = -60 - pe - 1;
  const k = (f * 78913) / (1 << 18) + (f > 0 ? 1 : 0);
  const index = (300 + k + 7) / 8;
  const cf = CACHED_F[index], ce = CACHED_E[index], ck = -300 + 8 * index;
  const w = mulHi(wf, cf);
  const wMinus = mulHi(mf, cf);
  const wPlus = mulHi(pf, cf);
  const e = pe + ce + 64; // the products' common exponent
  const Mminus = wMinus + 1, Mplus = wPlus - 1;
  const g = new Grisu();
  g.exp = -ck;
  // digit generation
  let delta = Mplus - Mminus;
  let dist = Mplus - w;
  const oneE = -e;
  const oneF: u64 = <u64>1 << <u64>oneE;
  let p1 = <u32>(Mplus >> <u64>oneE);
  let p2 = Mplus & (oneF - 1);
  let pow10: u32 = 1, kk = 1;
  if (p1 >= 1000000000) { pow10 = 1000000000; kk = 10; }
  else if (p1 >= 100000000) { pow10 = 100000000; kk = 9; }
  else if (p1 >= 10000000) { pow10 = 10000000; kk = 8; }
  else if (p1 >= 1000000) { pow10 = 1000000; kk = 7; }
  else if (p1 >= 100000) { pow10 = 100000; kk = 6; }
  else if (p1 >= 10000) { pow10 = 10000; kk = 5; }
  else if (p1 >= 1000) { pow10 = 1000; kk = 4; }
  else if (p1 >= 100) { pow10 = 100; kk = 3; }
  else if (p1 >= 10) { pow10 = 10; kk = 2; }
  let n = kk;
  while (n > 0) {
    const dgt = p1 / pow10;
    const r = p1 % pow10;
    g.buf.push(<i32>dgt);
    p1 = r;
    n--;
    const rest = (<u64>p1 << <u64>oneE) + p2;
    if (rest <= delta) {
      g.exp += n;
      grisuRound(g, dist, delta, rest, <u64>pow10 << <u64>oneE);
      return g;
    }
    pow10 /= 10;
  }
  let m = 0;
  while (true) {
    p2 *= 10;
    const dgt = p2 >> <u64>oneE;
    const r = p2 & (oneF - 1);
    g.buf.push(<i32>dgt);
    p2 = r;
    m++;
    delta *= 10;
    dist *= 10;
    if (p2 <= delta) break;
  }
  g.exp -= m;
  grisuRound(g, dist, delta, p2, oneF);
  return g;
}

function exponentText(e: i32): string {
  let s = e < 0 ? "-" : "+";
  if (e < 0) e = -e;
  if (e < 10) s += "0";
  return s + e.toString();
}

/** x as nlohmann::json's dump() writes a floating-point number. */
export function formatDouble(x: f64): string {
  if (!isFinite(x)) return "null";
  const neg = (reinterpret<u64>(x) >> 63) != 0;
  const sign = neg ? "-" : "";
  if (x == 0) return sign + "0.0";
  const g = grisu2(Math.abs(x));
  let digits = "";
  for (let i = 0; i < g.buf.length; i++) digits += String.fromCharCode(0x30 + g.buf[i]);
  const k = digits.length;
  const n = k + g.exp; // position of the decimal point
  if (k <= n && n <= 15) return sign + digits + "0".repeat(n - k) + ".0";
  if (0 < n && n <= 15) return sign + digits.substring(0, n) + "." + digits.substring(n);
  if (-4 < n && n <= 0) return sign + "0." + "0".repeat(-n) + digits;
  const mant = k == 1 ? digits : digits.substring(0, 1) + "." + digits.substring(1);
  return sign + mant + "e" + exponentText(n - 1);
}
