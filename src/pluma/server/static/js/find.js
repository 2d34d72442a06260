// Conversation search in the sidebar. Typing (debounced) asks
// GET /api/conversations/search; while the box holds words, the results list
// (title, then a snippet with the matching words in <mark>) stands in for the
// conversation list. Snippets arrive as plain-text parts and are built with
// textContent, so stored text never becomes markup. Escape clears the box;
// ArrowDown/ArrowUp move between the box and the results. The query is kept
// for the tab's session, so a reload shows the same results.

import { h, clear, announce } from "./dom.js";
import { api } from "./api.js";

const DEBOUNCE_MS = 250;
const KEY = "pluma.search";

export class ConversationSearch {
  constructor(app) {
    this.app = app;
    this.input = document.getElementById("search-input");
    this.results = document.getElementById("search-results");
    this.status = document.getElementById("search-status");
    this.list = document.getElementById("conversation-list");
    this.timer = null;
    this.controller = null;
    this.input.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.run();
    });
    this.input.addEventListener("input", () => this.schedule());
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.input.value) {
        e.preventDefault();
        e.stopPropagation(); // the first Escape clears; the next may close the phone sidebar
        this.clear();
      } else if (e.key === "ArrowDown") {
        const first = this.results.querySelector(".conv-open");
        if (first && !this.results.hidden) {
          e.preventDefault();
          first.focus();
        }
      }
    });
    this.results.addEventListener("keydown", (e) => this.move(e));
  }

  /** Show the results of the query this tab had before a reload. */
  restore() {
    const saved = sessionStorage.getItem(KEY);
    if (saved) {
      this.input.value = saved;
      this.run();
    }
  }

  /** Search again for what the box holds (the stored conversations changed). */
  rerun() {
    if (this.input.value.trim()) this.run();
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), DEBOUNCE_MS);
  }

  clear() {
    clearTimeout(this.timer);
    this.controller?.abort();
    this.input.value = "";
    sessionStorage.removeItem(KEY);
    this.show(false);
    this.status.textContent = "";
    announce("Search cleared.");
  }

  show(searching) {
    this.results.hidden = !searching;
    this.list.hidden = searching;
  }

  async run() {
    clearTimeout(this.timer);
    const query = this.input.value.trim();
    this.controller?.abort();
    if (!query) {
      sessionStorage.removeItem(KEY);
      this.show(false);
      this.status.textContent = "";
      return;
    }
    sessionStorage.setItem(KEY, this.input.value);
    const controller = new AbortController();
    this.controller = controller;
    this.results.setAttribute("aria-busy", "true");
    let body;
    try {
      body = await api(`/api/conversations/search?q=${encodeURIComponent(query)}`,
        { signal: controller.signal });
    } catch (err) {
      if (err.name === "AbortError") return;
      this.results.removeAttribute("aria-busy");
      clear(this.results);
      this.show(true);
      this.status.textContent = `Search failed: ${err.message}`;
      return;
    }
    if (controller !== this.controller) return; // a newer query is on its way
    this.results.removeAttribute("aria-busy");
    this.render(body.results || [], query);
  }

  render(results, query) {
    clear(this.results);
    this.show(true);
    for (const r of results) this.results.append(this.row(r));
    const n = results.length;
    this.status.textContent = n === 0 ? `No conversation matches “${query}”.`
      : `${n} conversation${n === 1 ? "" : "s"} found.`;
    this.markActive(this.app.chat.conversation?.id || null);
  }

  row(result) {
    const c = result.conversation;
    const title = c.title || "New conversation";
    const snippet = h("span", { class: "snippet" },
      (result.snippet || []).map((part) => (part.match
        ? h("mark", { text: part.text }) : document.createTextNode(part.text))));
    const open = h("button", { type: "button", class: "conv-open",
      onclick: async () => {
        this.app.show("chat");
        try {
          await this.app.chat.open(c.id, { through: result.message_id || null });
          this.markActive(c.id);
        } catch (err) {
          this.app.chat.showError(err.message, "The conversation may have been deleted; search again.");
        }
        this.app.closeSidebarOnPhone();
      } }, h("span", { class: "conv-title", text: title }), snippet);
    return h("li", { class: "conv found", dataset: { id: c.id } }, open);
  }

  markActive(id) {
    for (const li of this.results.children) {
      const button = li.querySelector(".conv-open");
      if (!button) continue;
      const current = li.dataset.id === id;
      li.classList.toggle("active", current);
      if (current) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
  }

  /** Arrow keys between results; ArrowUp from the first goes back to the box. */
  move(e) {
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      this.clear();
      this.input.focus();
      return;
    }
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    const buttons = [...this.results.querySelectorAll(".conv-open")];
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    e.preventDefault();
    const next = e.key === "ArrowDown" ? at + 1 : at - 1;
    if (next < 0) this.input.focus();
    else buttons[Math.min(next, buttons.length - 1)].focus();
  }
}
