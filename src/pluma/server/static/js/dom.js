// Tiny DOM helpers. Why: every element the page shows is built here with
// createElement and textContent, so nothing from a model, a backend or a
// user ever goes through an HTML parser (no innerHTML anywhere in the app).

/**
 * Build an element. `attrs` keys: `class`, `text` (textContent), `on*`
 * functions (event listeners), `dataset` (object), booleans (set/omit),
 * anything else as an attribute. Children: nodes, strings (text nodes),
 * null/undefined/false (skipped), or arrays of those.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

let idCounter = 0;
/** A unique id for label/aria wiring of generated controls. */
export function uid(prefix = "id") {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** A labelled form field: <div class="field"><label/><control/><hint/></div>. */
export function field(labelText, control, hint) {
  if (!control.id) control.id = uid("field");
  const parts = [h("label", { for: control.id, text: labelText }), control];
  if (hint) {
    const hintEl = h("p", { class: "hint", id: uid("hint"), text: hint });
    control.setAttribute("aria-describedby", hintEl.id);
    parts.push(hintEl);
  }
  return h("div", { class: "field" }, parts);
}

/** Announce a short status to screen readers and show it in the status bar. */
export function announce(message) {
  const el = document.getElementById("status");
  if (el) el.textContent = message;
}
