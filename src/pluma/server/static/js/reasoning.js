// The model's reasoning as a collapsed <details>, titled with how long the
// model thought ("Thought for 4 s"). While it streams the page measures the
// time itself (from the first reasoning text to the first answer text, tool
// call or the end); the server measures the same span on its side and
// stores it with the message (`durationMs` on the thinking block), so a
// reloaded conversation shows it too. Older messages without it say
// "Reasoning".

import { h } from "./dom.js";

/** "Thought for 4 s", "Thought for 1 min 5 s"; "Reasoning" when unknown. */
export function thoughtFor(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) return "Reasoning";
  if (ms < 1000) return "Thought for less than a second";
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `Thought for ${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  const rest = seconds % 60;
  return rest ? `Thought for ${minutes} min ${rest} s` : `Thought for ${minutes} min`;
}

/** `{el, summary, target}`: the block, its title and the text node the
 * live reply appends reasoning to. */
export function reasoningBlock(text = "", durationMs = undefined, live = false) {
  const target = document.createTextNode(text);
  const summary = h("summary", { text: live ? "Thinking…" : thoughtFor(durationMs) });
  const el = h("details", { class: "reasoning" }, summary, h("div", { class: "thinking-text" }, target));
  return { el, summary, target };
}
