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

import { h } from "./dom.js";
import { MarkdownStream, renderMarkdown } from "./markdown.js";
import { textOf } from "./history.js";

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
  }

  part(type) {
    const last = this.parts[this.parts.length - 1];
    if (last && last.type === type) return last;
    let part;
    if (type === "thinking") {
      const target = document.createTextNode("");
      const el = h("details", { class: "reasoning" },
        h("summary", { text: "Reasoning" }), h("div", { class: "thinking-text" }, target));
      part = { type, el, chunks: [], painted: 0, target };
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
      const nameEl = h("span", { class: "tool-name" });
      const target = document.createTextNode("");
      const argsEl = h("pre", { class: "tool-args" }, target);
      const el = h("div", { class: "tool-call", role: "group", "aria-label": "Tool call" },
        h("div", { class: "tool-head" }, h("span", { class: "badge", text: "Tool call" }), nameEl),
        argsEl);
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
      if (part.type === "thinking") content.push({ type: "thinking", thinking: part.chunks.join("") });
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
    if (errorMessage) msg.errorMessage = errorMessage;
    return msg;
  }

  end() {
    this.paint();
    // Tool arguments stream in as raw JSON; once complete, show them laid out.
    for (const call of this.toolCalls.values()) {
      call.argsEl.textContent = prettyArgs(call.chunks.join(""));
    }
    this.el.classList.remove("streaming");
    this.el.removeAttribute("aria-busy");
  }
}

function prettyArgs(raw) {
  try {
    return JSON.stringify(JSON.parse(raw), null, 2);
  } catch {
    return raw; // still streaming, or not JSON
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
  if (m.role === "toolResult") {
    return h("article", { class: "msg tool" },
      h("div", { class: "role", text: `Tool result · ${m.toolName || m.toolCallId}` }),
      h("pre", { class: "tool-args", text: textOf(m) }));
  }
  const body = h("div", { class: "msg-body" });
  for (const b of m.content || []) {
    if (b.type === "thinking") {
      if (b.redacted || !b.thinking) continue;
      body.append(h("details", { class: "reasoning" }, h("summary", { text: "Reasoning" }),
        h("div", { class: "thinking-text", text: b.thinking })));
    } else if (b.type === "text") {
      body.append(h("div", { class: "md" }, renderMarkdown(b.text)));
    } else if (b.type === "toolCall") {
      body.append(h("div", { class: "tool-call", role: "group", "aria-label": "Tool call" },
        h("div", { class: "tool-head" }, h("span", { class: "badge", text: "Tool call" }),
          h("span", { class: "tool-name", text: b.name })),
        h("pre", { class: "tool-args", text: JSON.stringify(b.arguments || {}, null, 2) })));
    }
  }
  const el = h("article", { class: "msg assistant" },
    h("div", { class: "role", text: m.model ? `Assistant · ${m.model}` : "Assistant" }), body);
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
