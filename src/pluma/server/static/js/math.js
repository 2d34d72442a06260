// LaTeX math in answers, typeset by KaTeX (vendored, see
// static/vendor/README.md).
//
// Where math is found is markdown.js's job (the delimiters and the dollar
// rule are documented there); this module turns one formula into an
// element. KaTeX builds its output with DOM calls (katex.render), not an
// HTML string, and runs with its defaults that refuse \href, \url and
// \htmlClass-style commands (trust: false), so model text still never
// reaches an HTML parser.
//
// | situation                     | shown                                          |
// |-------------------------------|------------------------------------------------|
// | KaTeX loaded, TeX valid       | the typeset formula (.katex, MathML for        |
// |                               | screen readers)                                |
// | KaTeX loaded, TeX invalid     | the source in <code class="math-error">, the   |
// |                               | reason in its title                            |
// | KaTeX still loading           | the source (.math-pending), typeset once it is |
// |                               | loaded                                         |
// | KaTeX cannot be loaded        | the source                                     |
//
// The streaming renderer rebuilds the growing last block on every frame, so
// typeset formulas are cached by source and cloned: a formula is typeset
// once however often its paragraph is redrawn.

import { loadScript, loadStyle } from "./vendor.js";

const OPTIONS = {
  throwOnError: true, // we show the source ourselves (KaTeX's own error colour is fixed)
  strict: "ignore",
  trust: false,
  maxSize: 50, // em: no formula may cover the page
  maxExpand: 1000, // macro expansions: a runaway macro stops instead of hanging the tab
};

const CACHE_SIZE = 300;
const cache = new Map(); // `${display}:${tex}` -> rendered element (insertion order = age)
let pending = new Set(); // elements waiting for KaTeX
let loading = null;

function katex() {
  return window.katex || null;
}

function load() {
  loading ??= Promise.all([loadStyle("katex/katex.min.css"), loadScript("katex/katex.min.js")])
    .then(() => {
      const waiting = pending;
      pending = new Set();
      for (const el of waiting) typeset(el, el.dataset.tex, el.dataset.display === "true");
    })
    .catch(() => {
      loading = null; // leave the sources shown; a later formula tries again
      pending = new Set();
    });
  return loading;
}

function source(tex, display) {
  return display ? `$$${tex}$$` : `$${tex}$`;
}

function typeset(el, tex, display) {
  const key = `${display}:${tex}`;
  let done = cache.get(key);
  if (!done) {
    done = document.createElement("span");
    try {
      katex().render(tex, done, { ...OPTIONS, displayMode: display });
      done.className = display ? "math math-display" : "math math-inline";
    } catch (err) {
      done = document.createElement("code");
      done.className = "math-error";
      done.textContent = source(tex, display);
      done.title = `Not valid TeX: ${err && err.message ? err.message : err}`;
    }
    cache.set(key, done);
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value);
  }
  const copy = done.cloneNode(true);
  if (el) el.replaceWith(copy);
  return copy;
}

/** An element showing the formula `tex` (without its delimiters); `display`
 * for a formula on its own line. */
export function mathNode(tex, display) {
  if (katex()) return typeset(null, tex, display);
  const el = document.createElement("span");
  el.className = "math-pending";
  el.textContent = source(tex, display);
  el.dataset.tex = tex;
  el.dataset.display = String(display);
  pending.add(el);
  load();
  return el;
}
