// Tool calls and tool results as collapsible blocks (<details>): the
// summary names the tool, the body shows the arguments (JSON laid out) or
// the result's text. Collapsed by default, so a long exchange of tool calls
// does not push the answer out of view; keyboard and screen readers get
// the native disclosure behaviour of <details>.
//
// | block       | summary                         | body                          |
// |-------------|---------------------------------|-------------------------------|
// | tool call   | "Tool call" badge, tool name    | arguments, pretty JSON        |
// | tool result | "Result" badge, tool name       | the result's text and images  |
// | failed      | "Error" badge (not colour only) | the error text                |

import { h } from "./dom.js";

/** JSON text laid out with two-space indents; the text itself when it is
 * not (yet) complete JSON. */
export function prettyJson(raw) {
  try {
    return JSON.stringify(JSON.parse(raw), null, 2);
  } catch {
    return raw;
  }
}

/** A tool call block: `{el, nameEl, argsEl}`; the live reply fills the name
 * and the arguments as they stream in. `args`: an object (stored call). */
export function toolCallBlock(name = "", args = undefined) {
  const nameEl = h("span", { class: "tool-name", text: name });
  const argsEl = h("pre", { class: "tool-args" });
  if (args !== undefined) argsEl.textContent = JSON.stringify(args ?? {}, null, 2);
  const el = h("details", { class: "tool-call" },
    h("summary", {}, h("span", { class: "badge", text: "Tool call" }), " ", nameEl),
    h("p", { class: "tool-label", text: "Arguments" }), argsEl);
  return { el, nameEl, argsEl };
}

/** A stored `toolResult` message as an article holding its block. */
export function toolResultBlock(m) {
  const failed = Boolean(m.isError);
  const body = [];
  for (const b of Array.isArray(m.content) ? m.content : []) {
    if (b.type === "text") body.push(h("pre", { class: "tool-output", text: b.text }));
    else if (b.type === "image") {
      body.push(h("img", { class: "attachment", alt: "image returned by the tool",
        src: `data:${b.mimeType};base64,${b.data}` }));
    }
  }
  if (typeof m.content === "string") body.push(h("pre", { class: "tool-output", text: m.content }));
  if (!body.length) body.push(h("p", { class: "note", text: "(no output)" }));
  const badge = failed
    ? h("span", { class: "badge badge-error", text: "Error" })
    : h("span", { class: "badge", text: "Result" });
  const details = h("details", { class: failed ? "tool-result failed" : "tool-result" },
    h("summary", {}, badge, " ", h("span", { class: "tool-name", text: m.toolName || m.toolCallId || "tool" })),
    body);
  return h("article", { class: failed ? "msg tool failed" : "msg tool" }, details);
}
