// Varied test strings for comparing tokenizers: fixed tricky cases plus a seeded random mix
// of words, digits, punctuation, code, whitespace runs, scripts, emoji and combining marks.

export const FIXED = [
  "", " ", "  ", "   ", "\t", "\n", "\n\n", " \n", "\n ", "\t\n\t", "a", " a", "a ", "a  b", "a   b   c",
  "Hello world", " Hello world", "Hello World!", "Hello, world!", "And God said, Let there be light: and there was light.",
  "I'm", "I've been 'told' he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
  "don't won't can't shouldn't y'all 'tis", "' '' ''' 's 't 're",
  "3333333333", "1 22 333 4444 55555 666666", "3.14159 -42 +7 1e10 0x1F 1,000,000", "①②③ Ⅷ ½ ¾ ٣ ६",
  "int main() {\n    printf(\"hi\\n\");\n    return 0;\n}\n", "def f(x):\n\treturn x**2  # square\n",
  "if (a < b && c >= d) { x += y; } // ok", "<html><body class=\"x\">&nbsp;</body></html>", "SELECT * FROM t WHERE id=1;",
  "Führer", "naïve café résumé", "Ελληνικά γράμματα", "нещо на Български", "日本語のテキスト", "中文文本测试", "한국어 텍스트",
  "العربية نص", "עברית", "हिन्दी पाठ", "ภาษาไทย", "កាន់តែពិសេសអាចខលចេញ",
  "🦙", "🦙.cpp", " this is 🦙.cpp", "👨‍👩‍👧‍👦 family", "🏳️‍🌈", "👍🏽", "e\u0301 a\u0300\u0301 n\u0303", "\u200b\u200d\ufeff",
  "\u00a0nbsp\u00a0", "\u3000ideographic space", "line\u2028sep\u2029para", "tab\there", "\r\n windows \r\n",
  "     leading", "trailing     ", "mixed \t \n  \n\n\t  runs", "(((())))", "!!!???...", "----====", "______",
  "<s>", "</s>", "<unk>", "<s>Hello", "Hello</s>", "<|endoftext|>", "a<|endoftext|>b", " <s> x </s> ",
  "<0x41>", "▁", "▁▁", "Ġ", "\u0000nul", "\u007f\u0080\u00ff", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\u{10FFFF}\u{E000}",
];

const WORDS = ["the", "The", "LORD", "said", "unto", "thee", "Romeo", "wherefore", "art", "computer", "tokenizer",
  "llama", "GGUF", "quantization", "x", "I", "a", "hello", "HELLO", "camelCase", "snake_case", "kebab-case",
  "déjà", "Straße", "naïve", "Москва", "東京", "서울", "Ελλάδα", "مرحبا", "नमस्ते", "🙂", "🦙", "🚀🔥", "٣٤٥", "Ⅻ"];
const PUNCT = [".", ",", "!", "?", ";", ":", "'", "\"", "(", ")", "[", "]", "{", "}", "-", "--", "...", "/", "\\", "@",
  "#", "$", "%", "^", "&", "*", "+", "=", "<", ">", "|", "~", "`", "'s", "'ll", "'re", "’", "“", "”", "«", "»", "—"];
const SPACE = [" ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", " \n", "\t\t", "\u00a0", "\u3000", "\r\n"];

export function randomStrings(count, seed = 1) {
  let s = seed >>> 0;
  const rnd = () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 4294967296; };
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const out = [];
  for (let i = 0; i < count; i++) {
    const parts = [];
    const n = 1 + Math.floor(rnd() * 12);
    for (let k = 0; k < n; k++) {
      const r = rnd();
      if (r < 0.45) parts.push(pick(WORDS));
      else if (r < 0.6) parts.push(String(Math.floor(rnd() * 10 ** (1 + Math.floor(rnd() * 8)))));
      else if (r < 0.75) parts.push(pick(PUNCT));
      else if (r < 0.95) parts.push(pick(SPACE));
      else parts.push(String.fromCodePoint(0x20 + Math.floor(rnd() * 0x2fff)));
      if (rnd() < 0.5) parts.push(" ");
    }
    out.push(parts.join(""));
  }
  return out;
}
