// Images attached to the next message: picked with the "Image…" button or dropped
// on the message box, shown as removable thumbnails, sent as image content
// blocks (pluma.llm JSON: {type: "image", data: <base64>, mimeType}), which
// history.js turns into OpenAI `image_url` data: URLs for POST /api/chat.
//
// Why base64 in the page: the chat API takes inline images only (the server
// never fetches a URL on a model's behalf), and the stored conversation keeps
// the image with the message, so Regenerate and a reload still have it.

import { h, clear, announce } from "./dom.js";

/** Bigger files are refused: most vision backends reject them anyway. */
export const MAX_IMAGE_BYTES = 10 * 1024 * 1024;

function readAsBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error || new Error("unreadable"));
    reader.readAsDataURL(file);
  });
}

export class Attachments {
  constructor() {
    this.list = document.getElementById("attachments");
    this.error = document.getElementById("attach-error");
    this.input = document.getElementById("attach-input");
    this.button = document.getElementById("attach");
    this.items = []; // {name, mimeType, data}
    this.button.addEventListener("click", () => this.input.click());
    this.input.addEventListener("change", async () => {
      await this.add([...this.input.files]);
      this.input.value = ""; // picking the same file again fires change again
    });
  }

  get count() {
    return this.items.length;
  }

  /** Add image files; anything else (or too big) is refused with a reason. */
  async add(files) {
    const refused = [];
    for (const file of files) {
      if (!file.type.startsWith("image/")) {
        refused.push(`${file.name} is not an image`);
      } else if (file.size > MAX_IMAGE_BYTES) {
        refused.push(`${file.name} is larger than ${MAX_IMAGE_BYTES / 1024 / 1024} MB`);
      } else {
        try {
          this.items.push({ name: file.name, mimeType: file.type, data: await readAsBase64(file) });
        } catch (err) {
          refused.push(`${file.name} could not be read (${err.message})`);
        }
      }
    }
    this.error.textContent = refused.length
      ? `Not attached: ${refused.join("; ")}. Attach PNG, JPEG, GIF or WebP images.` : "";
    this.error.hidden = refused.length === 0;
    this.render();
    if (files.length > refused.length) announce(`${this.items.length} image(s) attached.`);
  }

  /** The attached images as content blocks, and empty the tray. */
  take() {
    const blocks = this.items.map((i) => ({ type: "image", data: i.data, mimeType: i.mimeType }));
    this.items = [];
    this.error.hidden = true;
    this.render();
    return blocks;
  }

  render() {
    clear(this.list);
    this.list.hidden = this.items.length === 0;
    this.items.forEach((item, at) => {
      const remove = h("button", { type: "button", class: "icon", text: "✕",
        "aria-label": `Remove ${item.name}`, onclick: () => {
          this.items.splice(at, 1);
          this.render();
          this.button.focus();
        } });
      this.list.append(h("li", {},
        h("img", { src: `data:${item.mimeType};base64,${item.data}`, alt: item.name }), remove));
    });
  }
}
