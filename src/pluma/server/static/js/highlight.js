// Syntax highlighting of code blocks with Prism (vendored, see
// static/vendor/README.md).
//
// Why Prism: its tokenizer is a public API that returns a token tree, which
// this module turns into <span class="token …"> elements itself, with
// textContent only. Other highlighters hand back an HTML string, and this
// page never gives text from a model to an HTML parser (see markdown.js).
//
// | step                              | how                                      |
// |-----------------------------------|------------------------------------------|
// | language                          | the fence's info string, via LANGUAGES;  |
// |                                   | no guessing (unknown → plain text)       |
// | first code block                  | loads Prism's core and its default set   |
// |                                   | (markup, css, clike, javascript)         |
// | a language not loaded yet         | loads its file (and what it requires)    |
// | block longer than LIMIT           | left plain: the tokenizer is regex-based |
// | while streaming                   | markdown.js highlights a block once its  |
// |                                   | closing fence has arrived, never the     |
// |                                   | growing one                              |
//
// Colours come from app.css (--tok-* variables, one set per theme).

import { loadScript } from "./vendor.js";

/** Longest code block (characters) that gets highlighted. */
export const LIMIT = 100_000;

// The files Prism's default build is made of, in its order: later ones
// extend earlier ones (css and javascript add themselves inside markup).
const BASE = ["markup", "css", "clike", "javascript"];

/** Language → the languages it needs loaded first (Prism's components.json
 * "require"), for every language file in vendor/prism/. */
export const REQUIRES = {
  markup: [], css: [], clike: [], javascript: ["clike"],
  typescript: ["javascript"], jsx: ["markup", "javascript"], tsx: ["jsx", "typescript"],
  python: [], bash: [], json: [], rust: [], go: ["clike"], c: ["clike"], cpp: ["c"],
  java: ["clike"], csharp: ["clike"], sql: [], yaml: [], toml: [], diff: [],
  markdown: ["markup"], ruby: ["clike"], "markup-templating": ["markup"],
  php: ["markup-templating"], kotlin: ["clike"], swift: [], docker: [], ini: [], lua: [],
  powershell: [], haskell: [], scala: ["java"], r: [], latex: [], makefile: [], graphql: [],
  regex: [], perl: [], dart: ["clike"], elixir: [], zig: [], nix: [], protobuf: ["clike"],
  hcl: [],
};

// Names people write after ``` → the language file that highlights them.
const ALIASES = {
  html: "markup", xml: "markup", svg: "markup", mathml: "markup", vue: "markup",
  js: "javascript", mjs: "javascript", cjs: "javascript", node: "javascript",
  ts: "typescript", py: "python", python3: "python", sh: "bash", shell: "bash",
  zsh: "bash", console: "bash", shellsession: "bash", jsonc: "json", json5: "json",
  rs: "rust", golang: "go", h: "c", "c++": "cpp", cc: "cpp", cxx: "cpp", hpp: "cpp",
  cs: "csharp", "c#": "csharp", dotnet: "csharp", yml: "yaml", patch: "diff", md: "markdown",
  rb: "ruby", kt: "kotlin", kts: "kotlin", dockerfile: "docker", cfg: "ini", conf: "ini",
  ps1: "powershell", pwsh: "powershell", hs: "haskell", tex: "latex", make: "makefile",
  mk: "makefile", gql: "graphql", pl: "perl", ex: "elixir", exs: "elixir", proto: "protobuf",
  tf: "hcl", terraform: "hcl", postgres: "sql", postgresql: "sql", mysql: "sql", sqlite: "sql",
};

/** The language file for a fence's info string, or null. */
export function languageOf(fence) {
  const name = String(fence || "").trim().toLowerCase();
  if (!name) return null;
  if (Object.hasOwn(REQUIRES, name)) return name;
  return Object.hasOwn(ALIASES, name) ? ALIASES[name] : null;
}

let core = null; // Promise of Prism's core and BASE

function loadCore() {
  // data-manual: Prism must not scan the page and highlight on its own.
  core ??= loadScript("prism/prism-core.min.js", { "data-manual": "" })
    .then(() => Promise.all(BASE.map((name) => loadScript(`prism/prism-${name}.min.js`))));
  core.catch(() => {
    core = null;
  });
  return core;
}

/** Load a language file after what it requires; resolves once usable. */
export async function ensureLanguage(name) {
  await loadCore();
  const order = [];
  const visit = (lang) => {
    if (order.includes(lang)) return;
    for (const dep of REQUIRES[lang] || []) visit(dep);
    order.push(lang);
  };
  visit(name);
  // loadScript keeps the order of the requests, and each file once.
  await Promise.all(order.map((lang) => loadScript(`prism/prism-${lang}.min.js`)));
}

function ready(name) {
  return Boolean(window.Prism?.languages?.[name]);
}

/** Prism's tokens → elements: class names from the grammar, text as text. */
function build(tokens, parent) {
  for (const token of tokens) {
    if (typeof token === "string") {
      parent.append(token);
      continue;
    }
    const span = document.createElement("span");
    const aliases = Array.isArray(token.alias) ? token.alias : token.alias ? [token.alias] : [];
    span.className = ["token", token.type, ...aliases].join(" ");
    build(Array.isArray(token.content) ? token.content : [token.content], span);
    parent.append(span);
  }
}

function paint(codeEl, code, name) {
  const Prism = window.Prism;
  // What Prism.highlight does, minus turning the tokens into an HTML string:
  // the hooks let languages like PHP handle their embedded parts.
  const env = { code, grammar: Prism.languages[name], language: name };
  Prism.hooks.run("before-tokenize", env);
  env.tokens = Prism.tokenize(env.code, env.grammar);
  Prism.hooks.run("after-tokenize", env);
  const fragment = document.createDocumentFragment();
  build(env.tokens, fragment);
  codeEl.replaceChildren(fragment);
  codeEl.classList.add("highlighted");
}

/** Highlight `codeEl` (which shows `code` as plain text) in the language
 * of the fence `lang`: at once when Prism already has it, otherwise once it
 * has loaded. Unknown languages and overlong blocks stay plain text. */
export function highlightCode(codeEl, code, lang) {
  const name = languageOf(lang);
  if (!name || code.length > LIMIT) return;
  const apply = () => {
    try {
      paint(codeEl, code, name);
    } catch {
      // A grammar that fails on some input leaves the block as plain text.
    }
  };
  if (ready(name)) {
    apply();
    return;
  }
  ensureLanguage(name).then(apply, () => {
    // Not loaded (server unreachable): the code stays readable, unhighlighted.
  });
}
