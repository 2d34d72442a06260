// Message versions: a stored conversation is a tree (editing a message or
// regenerating an answer adds a sibling version), and the server sends the
// visible path with, for each message, its id and its siblings' ids
// (GET /api/conversations/{id} → `path`). A message with siblings gets a
// `‹ 2/3 ›` control; picking a version asks the server to show that branch
// (POST …/branch), so a reload shows the same one.

import { h } from "./dom.js";

/** The `‹ 2 of 3 ›` control for one path entry, or null without siblings.
 * `pick(id)` is called with the sibling to show. */
export function versionNav(entry, pick, { disabled = false } = {}) {
  if (!entry || entry.sibling_count < 2) return null;
  const at = entry.sibling_index;
  const count = entry.sibling_count;
  const go = (to) => () => pick(entry.sibling_ids[to], to < at ? "prev" : "next");
  return h("div", { class: "versions", role: "group", "aria-label": "Versions of this message" },
    h("button", { type: "button", class: "icon version-prev", "aria-label": "Previous version",
      title: "Previous version", text: "‹", disabled: disabled || at === 0, onclick: go(at - 1) }),
    h("span", { class: "version-count", "aria-live": "polite", text: `${at + 1} of ${count}` }),
    h("button", { type: "button", class: "icon version-next", "aria-label": "Next version",
      title: "Next version", text: "›", disabled: disabled || at === count - 1,
      onclick: go(at + 1) }));
}
