// A multi-turn conversation over the engine, its history kept in the KV cache: each turn
// appends only the new text (the end of the last reply, the user's message and the
// assistant prompt, laid out by ChatFormat from the model's chat template) after what the
// cache already holds, and generates the reply until a stop token or stop string.
//
// Stops: a stop token (EOS/EOT, "<|im_end|>", ...) is never shown; when the engine did not
// end on it by itself it is taken back out of the cache (keepGenerated), and the next text,
// which starts with that same turn end, puts it back as the template writes it. A stop
// string made of several tokens (the plain fallback's "\nUser:") is cut: the tokens from
// the one it starts in are taken back, and the part of that token before the stop string
// is carried into the next text, so the cache holds exactly the reply that was shown.
// Output is held back while the reply ends in something that may become a stop string.

import { ChatFormat } from "../chat_template";
import { Engine, stopOf } from "../engine";
import { InferResult, InferSettings, STOP_END_OF_TEXT, STOP_ERROR, STOP_INTERRUPTED, TokenSink } from "./backend";

export class ChatSession {
  fmt: ChatFormat;
  system: string;
  turns: i32 = 0;
  /** Reply text taken back with its token (it sat before a stop string): goes first next time. */
  private carry: string = "";
  /** The system turn's text, written before the first user message ("" when none or merged). */
  private head: string = "";
  private stops: Array<Uint8Array> = new Array<Uint8Array>();
  private reply: Array<u8> = new Array<u8>();
  private tokStart: Array<i32> = new Array<i32>();

  constructor(private engine: Engine, system: string, today: string = "") {
    this.fmt = ChatFormat.fromGGUF(engine.file!);
    this.system = system;
    if (today.length > 0) this.fmt.today = today;
    for (let i = 0; i < this.fmt.stopStrings.length; i++) {
      this.stops.push(Uint8Array.wrap(String.UTF8.encode(this.fmt.stopStrings[i])));
    }
    this.reset();
  }

  /** Which layout it uses and why: "plain (the model has no chat template)". */
  describe(): string { return this.fmt.describe(); }

  /** Forgets the conversation: the cache is emptied and the next turn starts with BOS. */
  reset(): void {
    this.engine.reset();
    this.fmt.reset();
    this.turns = 0;
    this.carry = "";
    this.head = this.system.length > 0 ? this.fmt.formatTurn("system", this.system, false) : "";
  }

  /** One exchange: `user` goes in, the reply streams to `sink`. */
  turn(user: string, st: InferSettings, sink: TokenSink): InferResult {
    const r = new InferResult();
    const t0 = sink.nowNs();
    let err = this.feed(user, st);
    if (err.length != 0 && this.engine.historyFull && this.turns > 0) {
      // the conversation outgrew the context: start a new one with this message
      this.reset();
      err = this.feed(user, st);
      if (err.length == 0) sink.note("the history no longer fits in the context: a new conversation starts with this message");
    }
    const e = this.engine;
    r.promptTokens = e.timings.promptTokens;
    if (err.length != 0) {
      r.error = err;
      r.stopReason = STOP_ERROR;
      r.contextUsed = e.contextUsed;
      r.contextSize = e.nCtx;
      return r;
    }
    this.turns++;
    const t1 = sink.nowNs();
    r.promptNs = t1 - t0;
    r.stopReason = this.generate(sink);
    if (e.grammarFailure.length != 0) r.note = "grammar: " + e.grammarFailure;
    r.generatedTokens = e.generated.length;
    r.generateNs = sink.nowNs() - t1;
    r.contextUsed = e.contextUsed;
    r.contextSize = e.nCtx;
    return r;
  }

  // Formats and appends the next text; "" or an error.
  private feed(user: string, st: InferSettings): string {
    const first = this.turns == 0;
    const text = (first ? this.head : this.carry) + this.fmt.userTurn(user);
    if (this.fmt.error.length != 0) return this.fmt.error;
    const b = String.UTF8.encode(text);
    const err = this.engine.append(changetype<usize>(b), b.byteLength, st, first, true);
    if (err.length == 0) this.carry = "";
    return err;
  }

  // Streams the reply; returns the stop code (llm/stop.ts).
  private generate(sink: TokenSink): i32 {
    const e = this.engine;
    const reply = this.reply, starts = this.tokStart;
    reply.length = 0;
    starts.length = 0;
    let shown = 0;      // bytes of reply handed to the sink
    let skipping = true; // leading spaces of a reply are not shown
    let reason = 0;
    while (true) {
      if (sink.interrupted()) { reason = STOP_INTERRUPTED; break; }
      const t = e.next();
      if (t < 0) {
        this.take(e);
        reason = stopOf(t);
        break;
      }
      if (this.fmt.isStopToken(t)) {
        e.keepGenerated(e.generated.length - 1);
        reason = STOP_END_OF_TEXT;
        break;
      }
      starts.push(reply.length);
      this.take(e);
      const at = this.findStop();
      if (at >= 0) {
        // cut at the stop string: take back the tokens from the one it starts in
        let k = starts.length - 1;
        while (k > 0 && starts[k] > at) k--;
        if (starts[k] < at) this.carry = String.UTF8.decodeUnsafe(changetype<usize>(this.bytesOf(starts[k], at)), <usize>(at - starts[k]));
        e.keepGenerated(k);
        reply.length = at;
        reason = STOP_END_OF_TEXT;
        break;
      }
      const safe = reply.length - this.stopPrefixAtEnd();
      shown = this.show(sink, shown, safe, skipping);
      if (shown > 0) skipping = false;
    }
    this.show(sink, shown, reply.length, skipping);
    return reason;
  }

  private take(e: Engine): void {
    const p = e.piecePtr, n = e.pieceLen;
    for (let i = 0; i < n; i++) this.reply.push(load<u8>(p + <usize>i));
  }

  private bytesOf(from: i32, to: i32): ArrayBuffer {
    const out = new ArrayBuffer(to - from);
    for (let i = from; i < to; i++) store<u8>(changetype<usize>(out) + <usize>(i - from), this.reply[i]);
    return out;
  }

  // Emits reply[from, to) (after leading spaces while `skipping`); returns the new shown count.
  private show(sink: TokenSink, from: i32, to: i32, skipping: bool): i32 {
    if (skipping) {
      while (from < to && (this.reply[from] == 0x20 || this.reply[from] == 0x0a)) from++;
      if (from == to) return 0; // still nothing shown
    }
    if (to > from) {
      const b = this.bytesOf(from, to);
      sink.emit(changetype<usize>(b), to - from);
    }
    return to > from ? to : from;
  }

  // Byte offset of the earliest stop string in the reply, or -1.
  private findStop(): i32 {
    let best = -1;
    const r = this.reply;
    for (let s = 0; s < this.stops.length; s++) {
      const stop = this.stops[s];
      const n = stop.length;
      if (n == 0) continue;
      for (let i = 0; i + n <= r.length; i++) {
        let j = 0;
        while (j < n && r[i + j] == stop[j]) j++;
        if (j == n) { if (best < 0 || i < best) best = i; break; }
      }
    }
    return best;
  }

  // Length of the longest end of the reply that is the beginning of a stop string.
  private stopPrefixAtEnd(): i32 {
    const r = this.reply;
    let best = 0;
    for (let s = 0; s < this.stops.length; s++) {
      const stop = this.stops[s];
      for (let k = min(stop.length - 1, r.length); k > best; k--) {
        let j = 0;
        while (j < k && r[r.length - k + j] == stop[j]) j++;
        if (j == k) { best = k; break; }
      }
    }
    return best;
  }
}
