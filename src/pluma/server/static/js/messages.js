// How messages look: a stored message (pluma.llm JSON) as an <article>,
// and LiveReply, the article of an answer that is still streaming.
//
// LiveReply keeps each content part's deltas in a list and paints at most
// once per animation frame, handing the painter only what arrived since the
// last frame: text parts go to MarkdownStream (which rebuilds only the
// growing last block), reasoning and tool arguments are appended to their
// text nodes. So a long answer costs the same per update at the end as at
// the start, and finished blocks never flicker. The parts' full text is
// joined once, when the message is built.
//
// Reasoning blocks (reasoning.js) show how long the model thought, tool
// calls and results are collapsible blocks (tool_blocks.js), and a line
// under each answer shows its usage and cost (usage.js), live and stored.

import { h } from "./dom.js";
import { MarkdownStream, renderMarkdown } from "./markdown.js";
import { prettyJson, toolCallBlock, toolResultBlock } from "./tool_blocks.js";
import { reasoningBlock, thoughtFor } from "./reasoning.js";
import { fromChunk, fromStored, toStored, usageLine } from "./usage.js";

export class LiveReply {
  constructor(onPaint) {
    this.onPaint = onPaint;
    this.body = h("div", { class: "msg-body" });
    this.el = h("article", { class: "msg assistant streaming", "aria-busy": "true" },
      h("div", { class: "role", text: "Assistant" }), this.body);
    this.parts = []; // {type, el, chunks[], stream?}
    this.toolCalls = new Map(); // index -> {id, name, chunks[], painted, el, argsEl, target}
    this.frame = 0;
    this.dirty = new Set();
    this.usageData = null; // from the stream's last chunk
    this.usageEl = null;
  }

  /** The reasoning before the part that starts now has ended: title it with
   * how long it took. */
  closeThinking() {
    const last = this.parts[this.parts.length - 1];
    if (!last || last.type !== "thinking" || last.ms !== undefined) return;
    last.ms = Math.round(performance.now() - last.started);
    last.summary.textContent = thoughtFor(last.ms);
  }

  part(type) {
    const last = this.parts[this.parts.length - 1];
    if (last && last.type === type) return last;
    this.closeThinking();
    let part;
    if (type === "thinking") {
      const { el, summary, target } = reasoningBlock("", undefined, true);
      part = { type, el, chunks: [], painted: 0, target, summary, started: performance.now() };
    } else {
      const el = h("div", { class: "md" });
      part = { type, el, chunks: [], painted: 0, stream: new MarkdownStream(el) };
    }
    this.parts.push(part);
    this.body.append(part.el);
    return part;
  }

  add(type, delta) {
    const part = this.part(type);
    part.chunks.push(delta);
    this.dirty.add(part);
    this.schedule();
  }

  toolCall(fragment) {
    const index = Number.isInteger(fragment.index) ? fragment.index : this.toolCalls.size;
    let call = this.toolCalls.get(index);
    if (!call) {
      this.closeThinking();
      const { el, nameEl, argsEl } = toolCallBlock();
      const target = document.createTextNode("");
      argsEl.append(target);
      call = { id: "", name: "", chunks: [], painted: 0, el, nameEl, argsEl, target };
      this.toolCalls.set(index, call);
      this.parts.push({ type: "toolCall", el, call });
      this.body.append(el);
    }
    if (fragment.id) call.id = fragment.id;
    const fn = fragment.function || {};
    if (fn.name) {
      call.name += fn.name;
      call.nameEl.textContent = call.name;
    }
    if (fn.arguments) call.chunks.push(fn.arguments);
    this.dirty.add(call);
    this.schedule();
  }

  /** The stream's usage chunk (OpenAI `usage`, with the server's `cost`). */
  usage(raw) {
    this.usageData = fromChunk(raw);
    const line = usageLine(this.usageData);
    if (this.usageEl) this.usageEl.remove();
    this.usageEl = line;
    if (line) this.el.append(line);
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => this.paint());
  }

  paint() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    for (const item of this.dirty) {
      const fresh = item.chunks.slice(item.painted).join("");
      item.painted = item.chunks.length;
      if (item.stream) item.stream.append(fresh);
      else item.target.appendData(fresh);
    }
    this.dirty.clear();
    this.onPaint();
  }

  /** The reply as pluma.llm message JSON (what the server stores too). */
  message(stopReason, errorMessage) {
    const content = [];
    for (const part of this.parts) {
      if (part.type === "thinking") {
        const block = { type: "thinking", thinking: part.chunks.join("") };
        if (part.ms !== undefined) block.durationMs = part.ms;
        content.push(block);
      }
      else if (part.type === "text") content.push({ type: "text", text: part.chunks.join("") });
      else {
        let args = {};
        try {
          args = JSON.parse(part.call.chunks.join("") || "{}");
        } catch {
          args = {};
        }
        content.push({ type: "toolCall", id: part.call.id, name: part.call.name, arguments: args });
      }
    }
    const msg = { role: "assistant", content, stopReason, timestamp: Date.now() };
    if (this.usageData) msg.usage = toStored(this.usageData);
    if (errorMessage) msg.errorMessage = errorMessage;
    return msg;
  }

  end() {
    this.paint();
    this.closeThinking();
    for (const part of this.parts) part.stream?.finish();
    // Tool arguments stream in as raw JSON; once complete, show them laid out.
    for (const call of this.toolCalls.values()) {
      call.argsEl.textContent = prettyJson(call.chunks.join(""));
    }
    this.el.classList.remove("streaming");
    this.el.removeAttribute("aria-busy");
  }
}

export function renderMessage(m) {
  if (m.role === "user") {
    const body = h("div", { class: "msg-body user-text" });
    if (typeof m.content === "string") body.textContent = m.content;
    else {
      for (const b of m.content) {
        if (b.type === "text") body.append(h("p", { text: b.text }));
        else if (b.type === "image") {
          body.append(h("img", { class: "attachment", alt: "attached image",
            src: `data:${b.mimeType};base64,${b.data}` }));
        }
      }
    }
    return h("article", { class: "msg user" }, h("div", { class: "role", text: "You" }), body);
  }
  if (m.role === "toolResult") return toolResultBlock(m);
  const body = h("div", { class: "msg-body" });
  for (const b of m.content || []) {
    if (b.type === "thinking") {
      if (b.redacted || !b.thinking) continue;
      body.append(reasoningBlock(b.thinking, b.durationMs).el);
    } else if (b.type === "text") {
      body.append(h("div", { class: "md" }, renderMarkdown(b.text)));
    } else if (b.type === "toolCall") {
      body.append(toolCallBlock(b.name, b.arguments || {}).el);
    }
  }
  const el = h("article", { class: "msg assistant" },
    h("div", { class: "role", text: m.model ? `Assistant · ${m.model}` : "Assistant" }), body,
    usageLine(fromStored(m.usage)));
  if (m.stopReason === "aborted") {
    el.append(h("p", { class: "note", text: "Stopped — the partial answer is kept." }));
  } else if (m.stopReason === "error") {
    el.append(h("p", { class: "note error-note", role: "note",
      text: `This answer failed: ${m.errorMessage || "unknown error"}` }));
  } else if (m.stopReason === "length") {
    el.append(h("p", { class: "note", text: "The answer hit the length limit." }));
  }
  return el;
}
