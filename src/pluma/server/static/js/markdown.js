// A small, safe Markdown renderer written for this page.
//
// Why our own: model output is untrusted. This renderer never hands text to
// an HTML parser — it builds DOM nodes and sets only textContent and a few
// fixed attributes — so `<script>`, `<img onerror=…>` and friends arrive as
// plain visible text. Links are kept only when absolute http:, https: or
// mailto: URLs; anything else (javascript:, data:, relative) is shown as
// text. Images are shown as links (no remote loads from model output).
//
// Supported (a pragmatic CommonMark subset):
// | block                         | inline                              |
// |-------------------------------|-------------------------------------|
// | ``` / ~~~ fenced code (+copy) | `code`, **bold**, __bold__          |
// | # … ###### headings           | *em*, _em_, ~~strike~~               |
// | > blockquotes                 | [text](url), <https://…>, bare URLs |
// | - * + and 1. 1) lists, nested | \-escapes, hard line breaks          |
// | | tables | with a --- row     | ![alt](url) → a link                 |
// | --- rules, paragraphs         | $math$, \(math\), $$math$$, \[math\] |
// | $$ / \[ display math lines    |                                     |
//
// Code blocks are highlighted by highlight.js (language from the fence);
// formulas are typeset by math.js.
//
// Math: the rule for dollars (Pandoc's, plus one) keeps prices as text.
// | delimiters    | kind    | rule                                            |
// |---------------|---------|-------------------------------------------------|
// | $…$           | inline  | the opening $ has a non-space after it, the     |
// |               |         | closing $ a non-space before it and no digit    |
// |               |         | after it; no newline and no other unescaped $   |
// |               |         | between them ("$5 and $10" stays text)          |
// | $$…$$         | display | anywhere in a paragraph, non-empty              |
// | \(…\)         | inline  | non-empty                                       |
// | \[…\]         | display | non-empty (so a Markdown \[ escape next to a    |
// |               |         | later \] is read as math)                       |
// | a line opening | display | block of its own when the closing $$ or \] ends |
// | with $$ or \[ |         | a line before any blank line                    |
// Code spans and code blocks are never searched for math; \$ is a literal $.
//
// Streaming: MarkdownStream renders finished blocks once and re-renders only
// the last, still-growing block, so each update costs the size of that
// block, not of the whole answer, and finished blocks never flicker. A code
// block is highlighted once its closing fence has arrived (or the answer
// ended), never while it grows.

import { h, announce } from "./dom.js";
import { highlightCode } from "./highlight.js";
import { mathNode } from "./math.js";

const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

/** The URL as a string when it is safe to link to, else null. */
export function safeUrl(raw) {
  const text = String(raw || "").trim();
  if (!text) return null;
  let url;
  try {
    url = new URL(text); // absolute URLs only: relative ones throw
  } catch {
    return null;
  }
  return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
}

// ---------------------------------------------------------------- blocks --

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:\s+(.*?))?\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const ITEM = /^( {0,3})([-*+]|\d{1,9}[.)])(\s+|$)(.*)$/;
const TABLE_SEP = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
const MATH_OPEN = /^ {0,3}(\$\$|\\\[)(.*)$/;
const MATH_CLOSE = { "$$": "$$", "\\[": "\\]" };

function isBlank(line) {
  return line.trim() === "";
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) ||
    ITEM.test(line);
}

/** Render markdown text into a DocumentFragment. `streaming`: the text is
 * the growing end of an answer, so a code block without its closing fence
 * is still arriving and is not highlighted yet. */
export function renderMarkdown(text, { streaming = false } = {}) {
  const fragment = document.createDocumentFragment();
  renderBlocks(String(text).split("\n"), fragment, 0, { streaming });
  return fragment;
}

/** A display formula standing on its own lines from `start`: its TeX and
 * the index after it, or null when no closing delimiter ends a line before
 * a blank line (then the lines are ordinary text). */
function mathBlock(lines, start) {
  const m = MATH_OPEN.exec(lines[start]);
  if (!m) return null;
  const close = MATH_CLOSE[m[1]];
  const body = [];
  let rest = m[2];
  for (let i = start; i < lines.length; i += 1) {
    if (i > start) {
      if (isBlank(lines[i])) return null;
      rest = lines[i];
    }
    const trimmed = rest.trimEnd();
    if (trimmed.endsWith(close)) {
      body.push(trimmed.slice(0, trimmed.length - close.length));
      const tex = body.join("\n").trim();
      return tex ? { tex, end: i + 1 } : null;
    }
    body.push(rest);
  }
  return null;
}

function renderBlocks(lines, parent, depth, opts) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (isBlank(line)) {
      i += 1;
      continue;
    }
    let m;
    if ((m = FENCE.exec(line))) {
      const fence = m[1];
      const body = [];
      let closed = false;
      i += 1;
      while (i < lines.length) {
        const trimmed = lines[i].trim();
        if (trimmed.startsWith(fence[0].repeat(fence.length)) && /^[`~]+$/.test(trimmed)) {
          closed = true;
          i += 1;
          break;
        }
        body.push(lines[i]);
        i += 1;
      }
      parent.append(codeBlock(body.join("\n"), m[2], closed || !opts.streaming));
      continue;
    }
    if ((m = HEADING.exec(line))) {
      const level = Math.min(6, m[1].length + 2); // the page owns h1/h2
      parent.append(h(`h${level}`, { class: "md-h" }, inline(m[2] || "")));
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      parent.append(h("hr"));
      i += 1;
      continue;
    }
    if (QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && (m = QUOTE.exec(lines[i]))) {
        inner.push(m[1]);
        i += 1;
      }
      const quote = h("blockquote");
      if (depth < 8) renderBlocks(inner, quote, depth + 1, opts);
      else quote.append(inline(inner.join("\n")));
      parent.append(quote);
      continue;
    }
    if ((m = ITEM.exec(line))) {
      i = renderList(lines, i, parent, depth, opts);
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1]) &&
        lines[i + 1].includes("-")) {
      i = renderTable(lines, i, parent);
      continue;
    }
    const math = mathBlock(lines, i);
    if (math) {
      parent.append(h("div", { class: "math-block" }, mathNode(math.tex, true)));
      i = math.end;
      continue;
    }
    const para = [];
    while (i < lines.length && !isBlank(lines[i]) && (para.length === 0 || !startsBlock(lines[i]))) {
      para.push(lines[i]);
      i += 1;
    }
    parent.append(h("p", {}, inline(para.join("\n"))));
  }
}

function renderList(lines, start, parent, depth, opts) {
  const first = ITEM.exec(lines[start]);
  const ordered = /\d/.test(first[2]);
  const list = ordered ? h("ol") : h("ul");
  if (ordered) {
    const n = parseInt(first[2], 10);
    if (n !== 1) list.setAttribute("start", String(n));
  }
  let i = start;
  while (i < lines.length) {
    const m = ITEM.exec(lines[i]);
    if (!m || /\d/.test(m[2]) !== ordered) break;
    const indent = m[1].length + m[2].length + Math.max(1, m[3].length);
    const body = [m[4]];
    i += 1;
    // Continuation: indented lines (nested lists, wrapped text).
    while (i < lines.length && !isBlank(lines[i])) {
      const line = lines[i];
      const lead = line.length - line.trimStart().length;
      const sibling = ITEM.exec(line);
      if (sibling && sibling[1].length < 2) break;
      if (lead >= 2) body.push(line.slice(Math.min(lead, indent)));
      else if (!startsBlock(line)) body.push(line.trim());
      else break;
      i += 1;
    }
    const item = h("li");
    if (depth < 8 && body.length > 1) renderBlocks(body, item, depth + 1, opts);
    else item.append(inline(body.join("\n")));
    // A single paragraph in an item renders without the <p> wrapper.
    if (item.childNodes.length === 1 && item.firstChild.nodeName === "P") {
      item.replaceChildren(...item.firstChild.childNodes);
    }
    list.append(item);
  }
  parent.append(list);
  return i;
}

function splitRow(line) {
  let text = line.trim();
  if (text.startsWith("|")) text = text.slice(1);
  if (text.endsWith("|") && !text.endsWith("\\|")) text = text.slice(0, -1);
  const cells = [];
  let current = "";
  for (let i = 0; i < text.length; i += 1) {
    if (text[i] === "\\" && text[i + 1] === "|") {
      current += "|";
      i += 1;
    } else if (text[i] === "|") {
      cells.push(current.trim());
      current = "";
    } else current += text[i];
  }
  cells.push(current.trim());
  return cells;
}

function renderTable(lines, start, parent) {
  const header = splitRow(lines[start]);
  const aligns = splitRow(lines[start + 1]).map((c) =>
    c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" : c.startsWith(":") ? "left" : "");
  const cell = (tag, text, col) => {
    const el = h(tag, {}, inline(text));
    if (aligns[col]) el.style.textAlign = aligns[col];
    return el;
  };
  const thead = h("thead", {}, h("tr", {}, header.map((c, col) => cell("th", c, col))));
  const tbody = h("tbody");
  let i = start + 2;
  while (i < lines.length && !isBlank(lines[i]) && lines[i].includes("|")) {
    const row = splitRow(lines[i]);
    tbody.append(h("tr", {}, header.map((_, col) => cell("td", row[col] || "", col))));
    i += 1;
  }
  parent.append(h("div", { class: "table-wrap" }, h("table", {}, thead, tbody)));
  return i;
}

function codeBlock(code, lang, highlight) {
  const button = h("button", { type: "button", class: "copy", text: "Copy" });
  button.setAttribute("aria-label", lang ? `Copy ${lang} code` : "Copy code");
  button.addEventListener("click", () => copyText(code, button));
  const codeEl = h("code", { text: code });
  if (lang) codeEl.dataset.lang = lang;
  if (highlight) highlightCode(codeEl, code, lang);
  return h("div", { class: "code-block" },
    h("div", { class: "code-head" }, h("span", { class: "lang", text: lang || "code" }), button),
    h("pre", { tabindex: "0" }, codeEl));
}

async function copyText(text, button) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    // Fallback for contexts without the async clipboard (plain http on a LAN).
    const area = h("textarea", { class: "offscreen", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
  }
  button.textContent = ok ? "Copied" : "Copy failed";
  announce(ok ? "Code copied to the clipboard." : "Copying failed; select the code and copy it.");
  setTimeout(() => {
    button.textContent = "Copy";
  }, 1500);
}

// --------------------------------------------------------------- inlines --

const BARE_URL = /^(?:https?:\/\/|mailto:)[^\s<>"]*[^\s<>".,;:!?)\]'*_~]/;

/** Inline markdown → DocumentFragment (text nodes and a few safe elements). */
export function inline(text, depth = 0) {
  const out = document.createDocumentFragment();
  let buf = "";
  const flush = () => {
    if (buf) out.append(document.createTextNode(buf));
    buf = "";
  };
  const put = (node) => {
    flush();
    out.append(node);
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "$" || (c === "\\" && (text[i + 1] === "(" || text[i + 1] === "["))) {
      const math = findMath(text, i);
      if (math) {
        put(mathNode(math.tex, math.display));
        i = math.end;
        continue;
      }
    }
    const rest = text.slice(i);
    if (c === "\\" && i + 1 < text.length && /[\\`*_{}[\]()#+\-.!|~<>$]/.test(text[i + 1])) {
      buf += text[i + 1];
      i += 2;
      continue;
    }
    if (c === "\n") {
      // Chat answers use single newlines as line breaks.
      buf = buf.replace(/ +$/, "");
      put(h("br"));
      i += 1;
      continue;
    }
    if (c === "`") {
      const run = /^`+/.exec(rest)[0];
      const close = text.indexOf(run, i + run.length);
      if (close > 0) {
        let code = text.slice(i + run.length, close);
        if (/^ .* $/.test(code)) code = code.slice(1, -1);
        put(h("code", { text: code }));
        i = close + run.length;
        continue;
      }
      buf += run;
      i += run.length;
      continue;
    }
    if (depth < 6 && (c === "[" || (c === "!" && text[i + 1] === "["))) {
      const link = parseLink(text, c === "!" ? i + 1 : i);
      if (link) {
        const href = safeUrl(link.url);
        const label = link.text || link.url;
        if (href) {
          put(h("a", { href, rel: "noopener noreferrer nofollow", target: "_blank" },
            c === "!" ? `🖼 ${label}` : inline(label, depth + 1)));
        } else {
          put(inline(label, depth + 1));
        }
        i = link.end;
        continue;
      }
    }
    if (c === "<") {
      const m = /^<((?:https?:\/\/|mailto:)[^\s<>]+)>/.exec(rest);
      if (m && safeUrl(m[1])) {
        put(h("a", { href: safeUrl(m[1]), rel: "noopener noreferrer nofollow", target: "_blank",
          text: m[1] }));
        i += m[0].length;
        continue;
      }
    }
    if ((c === "h" || c === "m") && !/[\w/]$/.test(buf)) {
      const m = BARE_URL.exec(rest);
      if (m && safeUrl(m[0])) {
        put(h("a", { href: safeUrl(m[0]), rel: "noopener noreferrer nofollow", target: "_blank",
          text: m[0] }));
        i += m[0].length;
        continue;
      }
    }
    if (depth < 6 && (c === "*" || c === "_" || c === "~")) {
      const span = parseEmphasis(text, i, buf);
      if (span) {
        put(h(span.tag, {}, inline(span.inner, depth + 1)));
        i = span.end;
        continue;
      }
    }
    buf += c;
    i += 1;
  }
  flush();
  return out;
}

/** The formula starting at `i` (a $ or a backslash), or null; the rules are
 * in the table at the top of this file. */
export function findMath(text, i) {
  if (text[i] === "\\") {
    const close = text[i + 1] === "(" ? "\\)" : "\\]";
    const end = text.indexOf(close, i + 2);
    const tex = end < 0 ? "" : text.slice(i + 2, end).trim();
    return tex ? { tex, display: close === "\\]", end: end + 2 } : null;
  }
  if (text[i + 1] === "$") {
    const end = text.indexOf("$$", i + 2);
    const tex = end < 0 ? "" : text.slice(i + 2, end).trim();
    return tex ? { tex, display: true, end: end + 2 } : null;
  }
  if (!text[i + 1] || /\s/.test(text[i + 1])) return null;
  for (let j = i + 1; j < text.length; j += 1) {
    const c = text[j];
    if (c === "\\") {
      j += 1; // an escaped character, \$ included, is part of the formula
    } else if (c === "\n") {
      return null;
    } else if (c === "$") {
      // Any other $ ends the search: a closing one or none ("$5 and $10").
      if (/\s/.test(text[j - 1]) || /\d/.test(text[j + 1] || "")) return null;
      return { tex: text.slice(i + 1, j), display: false, end: j + 1 };
    }
  }
  return null;
}

function parseLink(text, start) {
  // [label](url "title") with balanced brackets in the label.
  let depth = 0;
  let j = start;
  for (; j < text.length; j += 1) {
    if (text[j] === "\\") {
      j += 1;
      continue;
    }
    if (text[j] === "[") depth += 1;
    else if (text[j] === "]") {
      depth -= 1;
      if (depth === 0) break;
    } else if (text[j] === "\n" && text[j + 1] === "\n") return null;
  }
  if (j >= text.length || text[j + 1] !== "(") return null;
  const close = text.indexOf(")", j + 2);
  if (close < 0) return null;
  let target = text.slice(j + 2, close).trim();
  const titled = /^(\S+)\s+["'(].*["')]$/.exec(target);
  if (titled) target = titled[1];
  if (target.startsWith("<") && target.endsWith(">")) target = target.slice(1, -1);
  return { text: text.slice(start + 1, j), url: target, end: close + 1 };
}

function parseEmphasis(text, i, before) {
  const c = text[i];
  const double = text[i + 1] === c;
  if (c === "~" && !double) return null;
  const marker = double ? c + c : c;
  const after = text[i + marker.length];
  if (!after || /\s/.test(after)) return null;
  // Intraword underscores (snake_case) are not emphasis.
  if (c === "_" && /[\p{L}\p{N}]$/u.test(before)) return null;
  let search = i + marker.length;
  while (true) {
    const close = text.indexOf(marker, search);
    if (close < 0) return null;
    const inner = text.slice(i + marker.length, close);
    const next = text[close + marker.length];
    const valid = inner.length > 0 && !/\s$/.test(inner) && !inner.includes("\n\n") &&
      !(c === "_" && next && /[\p{L}\p{N}]/u.test(next)) &&
      !(marker.length === 1 && next === c);
    if (valid) {
      const tag = c === "~" ? "del" : double ? "strong" : "em";
      return { tag, inner, end: close + marker.length };
    }
    search = close + 1;
  }
}

// ------------------------------------------------------------- streaming --

/** Where the finished blocks of `text` end (a blank line or a closing fence
 * outside any open fence), scanning from `from` (itself such a boundary). */
export function stableBoundary(text, from) {
  let boundary = from;
  let fence = null;
  let pos = from;
  while (true) {
    const nl = text.indexOf("\n", pos);
    if (nl < 0) break; // the last line is still growing
    const line = text.slice(pos, nl);
    pos = nl + 1;
    if (fence) {
      const trimmed = line.trim();
      if (/^[`~]+$/.test(trimmed) && trimmed[0] === fence[0] && trimmed.length >= fence.length) {
        fence = null;
        boundary = pos;
      }
      continue;
    }
    const m = FENCE.exec(line);
    if (m) fence = m[1];
    else if (isBlank(line)) boundary = pos;
  }
  return boundary;
}

/** Renders a growing markdown text into `container`: finished blocks are
 * appended once; only the tail block is rebuilt on each update. It keeps
 * only the unfinished tail, never the whole answer, so an update costs the
 * size of that tail however long the answer has grown. */
export class MarkdownStream {
  constructor(container) {
    this.container = container;
    this.stable = h("div", { class: "md-stable" });
    this.tail = h("div", { class: "md-tail" });
    container.replaceChildren(this.stable, this.tail);
    this.pending = ""; // the text after the last finished block
    this.length = 0; // characters received in all
  }

  /** Add newly arrived text. */
  append(delta) {
    if (!delta) return;
    this.length += delta.length;
    this.pending += delta;
    const boundary = stableBoundary(this.pending, 0);
    if (boundary > 0) {
      this.stable.append(renderMarkdown(this.pending.slice(0, boundary)));
      this.pending = this.pending.slice(boundary);
    }
    this.tail.replaceChildren(renderMarkdown(this.pending, { streaming: true }));
  }

  /** The answer has ended: render the tail as final (a code block left
   * without its closing fence is highlighted too). */
  finish() {
    if (this.pending) this.tail.replaceChildren(renderMarkdown(this.pending));
  }

  /** Show `text`, which extends what was shown before. */
  update(text) {
    this.append(text.slice(this.length));
  }
}
