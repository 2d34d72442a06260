// The conversation list: open, rename, delete. Each row is a real button
// (keyboard and screen readers get it for free); rename swaps the row for a
// labelled input that saves on Enter and cancels on Escape. The list re-reads
// itself whenever a reply is saved, so a rename in progress is carried over
// each re-render with its draft, caret and focus.

import { h, clear, announce } from "./dom.js";
import { api } from "./api.js";

export class Sidebar {
  constructor(app) {
    this.app = app;
    this.list = document.getElementById("conversation-list");
    this.error = document.getElementById("conversation-error");
    this.activeId = null;
    this.items = [];
    this.renaming = null; // { id, input } while a rename form is open
    document.getElementById("new-chat").addEventListener("click", () => {
      this.app.show("chat");
      this.app.chat.newConversation();
      this.app.closeSidebarOnPhone();
    });
  }

  async refresh() {
    try {
      const body = await api("/api/conversations");
      this.items = body.conversations || [];
      this.error.hidden = true;
    } catch (err) {
      this.error.textContent = `Conversations could not be loaded: ${err.message}`;
      this.error.hidden = false;
      return;
    }
    this.render();
    this.app.search?.rerun(); // a renamed or deleted conversation shows so in the results too
  }

  markActive(id) {
    this.activeId = id;
    for (const li of this.list.children) {
      const current = li.dataset.id === id;
      li.classList.toggle("active", current);
      const open = li.querySelector(".conv-open");
      if (open) {
        if (current) open.setAttribute("aria-current", "true");
        else open.removeAttribute("aria-current");
      }
    }
  }

  render() {
    const editing = this.renaming;
    const focused = editing !== null && document.activeElement === editing.input;
    this.renaming = null;
    clear(this.list);
    if (this.items.length === 0) {
      this.list.append(h("li", { class: "muted", text: "No conversations yet." }));
      return;
    }
    for (const c of this.items) {
      const li = this.row(c);
      this.list.append(li);
      if (editing && c.id === editing.id) this.beginRename(li, c, editing.input, focused);
    }
    this.markActive(this.activeId);
  }

  row(c) {
    const title = c.title || "New conversation";
    const open = h("button", { type: "button", class: "conv-open", title,
      onclick: async () => {
        this.app.show("chat");
        try {
          await this.app.chat.open(c.id);
        } catch (err) {
          this.app.chat.showError(err.message, "The conversation may have been deleted; pick another.");
        }
        this.app.closeSidebarOnPhone();
      } }, h("span", { class: "conv-title", text: title }));
    const rename = h("button", { type: "button", class: "icon", "aria-label": `Rename “${title}”`,
      title: "Rename", text: "✎", onclick: () => this.beginRename(li, c) });
    const del = h("button", { type: "button", class: "icon danger", "aria-label": `Delete “${title}”`,
      title: "Delete", text: "✕", onclick: () => this.remove(c) });
    const li = h("li", { class: "conv", dataset: { id: c.id } }, open, rename, del);
    return li;
  }

  // `previous`: the input of the same rename before a re-render, whose draft
  // and caret carry over, and the focus when it had it (a refresh must not
  // eat what is being typed).
  beginRename(li, c, previous = null, focused = false) {
    const input = h("input", { type: "text", value: previous ? previous.value : c.title || "",
      maxlength: "200", "aria-label": "New title" });
    this.renaming = { id: c.id, input };
    const cancel = () => {
      this.renaming = null;
      this.render();
    };
    const save = async () => {
      this.renaming = null;
      const title = input.value.trim();
      try {
        await api(`/api/conversations/${encodeURIComponent(c.id)}`, { method: "PATCH", body: { title } });
        announce(`Renamed to “${title}”.`);
      } catch (err) {
        announce(`Rename failed: ${err.message}`);
      }
      await this.refresh();
      this.list.querySelector(`li[data-id="${CSS.escape(c.id)}"] .conv-open`)?.focus();
    };
    const form = h("form", { class: "rename", onsubmit: (e) => {
      e.preventDefault();
      save();
    } }, input, h("button", { type: "submit", text: "Save" }),
    h("button", { type: "button", class: "secondary", text: "Cancel", onclick: cancel }));
    input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        cancel();
      }
    });
    li.replaceChildren(form);
    if (!previous) {
      input.focus();
      input.select();
    } else if (focused) {
      input.focus();
      input.setSelectionRange(previous.selectionStart, previous.selectionEnd);
    }
  }

  async remove(c) {
    const title = c.title || "New conversation";
    if (!window.confirm(`Delete the conversation “${title}”? This cannot be undone.`)) return;
    try {
      await api(`/api/conversations/${encodeURIComponent(c.id)}`, { method: "DELETE" });
      announce(`Deleted “${title}”.`);
      if (this.app.chat.conversation && this.app.chat.conversation.id === c.id) {
        this.app.chat.newConversation();
      }
    } catch (err) {
      announce(`Delete failed: ${err.message}`);
    }
    await this.refresh();
  }
}
