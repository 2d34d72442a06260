// The Images view: prompt → POST /api/images/generate (SSE progress) →
// stored result, plus the gallery the server keeps.
//
// Generation stream events (see routes/images.py):
// | event      | data                                         | shown as              |
// |------------|----------------------------------------------|-----------------------|
// | start      | {job_id, connection}                         | Cancel becomes usable |
// | progress   | {fraction, step, steps, preview?}            | progress bar, preview |
// | result     | {images: [records], parameters}              | gallery refresh       |
// | error      | {"error": {message, code}}                   | inline alert          |
// Cancel posts the job id to /api/images/cancel (and aborts the request if
// the start event has not arrived yet; a disconnect cancels too).

import { h, clear, field, announce, uid } from "./dom.js";
import { api, readError } from "./api.js";
import { postForEvents, readEvents } from "./sse.js";
import { errorPayload } from "./errors.js";

const SIZES = ["512x512", "768x768", "1024x1024", "512x768", "768x512", "832x1216", "1216x832"];

function describe(params = {}) {
  const parts = [];
  if (params.width && params.height) parts.push(`${params.width}×${params.height}`);
  if (params.steps) parts.push(`${params.steps} steps`);
  if (params.seed !== undefined && params.seed !== null) parts.push(`seed ${params.seed}`);
  if (params.checkpoint) parts.push(params.checkpoint);
  return parts.join(" · ");
}

export class ImagesView {
  constructor(app) {
    this.app = app;
    this.root = document.getElementById("view-images");
    this.controller = null;
    this.jobId = null;
    this.build();
  }

  build() {
    this.connectionNote = h("p", { class: "muted", role: "status" });
    this.prompt = h("textarea", { rows: "3", required: true,
      placeholder: "A lighthouse on a cliff at dawn, oil painting" });
    this.negative = h("textarea", { rows: "2", placeholder: "blurry, low quality" });
    this.size = h("select", {}, SIZES.map((s) => h("option", { value: s, text: s.replace("x", " × ") })));
    this.steps = h("input", { type: "number", min: "1", max: "150", value: "20" });
    this.seed = h("input", { type: "number", placeholder: "random" });
    this.checkpoint = h("select", {}, h("option", { value: "", text: "Connection default" }));
    this.generateButton = h("button", { type: "submit", text: "Generate" });
    this.cancelButton = h("button", { type: "button", class: "danger", text: "Cancel", hidden: true,
      onclick: () => this.cancel() });
    this.progress = h("progress", { max: "1", value: "0", id: uid("progress") });
    this.progressText = h("span", { class: "muted small" });
    this.progressBox = h("div", { class: "progress-box", hidden: true },
      h("label", { for: this.progress.id, text: "Progress " }), this.progress, " ", this.progressText);
    this.preview = h("img", { class: "preview", alt: "live preview of the image being generated", hidden: true });
    this.message = h("div", { role: "status", "aria-live": "polite" });
    this.gallery = h("ul", { class: "gallery", "aria-label": "Generated images" });

    this.form = h("form", { class: "image-form", "aria-label": "Generate an image" },
      h("div", { class: "wide" }, field("Prompt", this.prompt)),
      h("div", { class: "wide" }, field("Negative prompt", this.negative)),
      field("Size", this.size),
      field("Steps", this.steps),
      field("Seed", this.seed, "Empty for a random seed (the one used is shown)."),
      field("Checkpoint", this.checkpoint),
      h("div", { class: "wide row" }, this.generateButton, this.cancelButton));
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.generate();
    });
    clear(this.root).append(
      h("h2", { text: "Images" }),
      this.connectionNote,
      this.form,
      this.progressBox,
      this.preview,
      this.message,
      h("h3", { text: "Gallery" }),
      this.gallery);
  }

  async refresh() {
    await Promise.all([this.loadConnection(), this.loadGallery()]);
  }

  async loadConnection() {
    try {
      const body = await api("/api/image-connections");
      const active = (body.connections || []).find((c) => c.id === body.active);
      if (!active) {
        this.connectionNote.textContent = "No image backend is set up: add one in Settings → Image backends.";
        this.generateButton.disabled = true;
        return;
      }
      this.generateButton.disabled = false;
      this.connectionNote.textContent = `Using ${active.name} (${active.kind} at ${active.base_url}).`;
      const list = await api("/api/images/checkpoints");
      const keep = this.checkpoint.value;
      clear(this.checkpoint).append(h("option", { value: "", text: "Connection default" }));
      for (const name of list.checkpoints || []) {
        this.checkpoint.append(h("option", { value: name, text: name }));
      }
      this.checkpoint.value = keep;
    } catch (err) {
      this.connectionNote.textContent = `Image backend problem: ${err.message}`;
    }
  }

  async loadGallery() {
    try {
      const body = await api("/api/images?limit=60");
      clear(this.gallery);
      const images = body.images || [];
      if (!images.length) this.gallery.append(h("li", { class: "muted", text: "No images yet." }));
      for (const record of images) this.gallery.append(this.figure(record));
    } catch (err) {
      clear(this.gallery).append(h("li", { class: "form-error", text: `Gallery unavailable: ${err.message}` }));
    }
  }

  figure(record) {
    const params = record.parameters || {};
    const prompt = params.prompt || "";
    return h("li", {}, h("figure", {},
      h("a", { href: record.url, target: "_blank", rel: "noopener" },
        h("img", { src: record.url, alt: prompt || "generated image", loading: "lazy" })),
      h("figcaption", {}, h("div", { text: prompt }), h("div", { text: describe(params) }))));
  }

  setBusy(on) {
    this.generateButton.hidden = on;
    this.cancelButton.hidden = !on;
    this.progressBox.hidden = !on;
    if (on) this.cancelButton.focus({ preventScroll: true });
    else if (document.activeElement === this.cancelButton) this.generateButton.focus();
  }

  showError(message) {
    clear(this.message).append(h("div", { class: "error", role: "alert" },
      h("p", {}, h("strong", { text: "Error: " }), message),
      h("p", { class: "hint", text: "Check the image backend in Settings (Test shows whether it answers), then try again." })));
  }

  async generate() {
    if (this.controller) return;
    const [width, height] = this.size.value.split("x").map(Number);
    const body = {
      prompt: this.prompt.value.trim(),
      negative_prompt: this.negative.value.trim(),
      width,
      height,
      steps: Number(this.steps.value) || 20,
      checkpoint: this.checkpoint.value,
    };
    if (!body.prompt) {
      this.showError("write a prompt first");
      return;
    }
    if (this.seed.value !== "") body.seed = Number(this.seed.value);
    clear(this.message);
    this.progress.value = 0;
    this.progressText.textContent = "Starting…";
    this.preview.hidden = true;
    const controller = new AbortController();
    this.controller = controller;
    this.jobId = null;
    this.setBusy(true);
    try {
      const response = await postForEvents("/api/images/generate", body, controller.signal);
      if (!response.ok) throw await readError(response);
      let finished = false;
      for await (const { event, data } of readEvents(response)) {
        let payload = {};
        try {
          payload = JSON.parse(data);
        } catch {
          if (event !== "error") continue; // not JSON: nothing to show
        }
        if (event === "start") {
          this.jobId = payload.job_id;
        } else if (event === "progress") {
          this.progress.value = payload.fraction || 0;
          this.progressText.textContent = payload.steps
            ? `Step ${payload.step} of ${payload.steps} (${Math.round((payload.fraction || 0) * 100)}%)`
            : `${Math.round((payload.fraction || 0) * 100)}%`;
          if (payload.preview) {
            this.preview.src = payload.preview;
            this.preview.hidden = false;
          }
        } else if (event === "result") {
          finished = true;
          this.progress.value = 1;
          const n = (payload.images || []).length;
          clear(this.message).append(h("p", { class: "ok", text:
            `Done: ${n} image${n === 1 ? "" : "s"} (${describe(payload.parameters)}).` }));
          announce("Image generated.");
        } else if (event === "error") {
          finished = true;
          const err = errorPayload(data); // JSON {"error": {...}} or plain text
          if (err.code === "cancelled") {
            clear(this.message).append(h("p", { text: "Cancelled." }));
            announce("Generation cancelled.");
          } else this.showError(err.message || "the generation failed");
        }
        if (finished) break; // terminal event: don't wait for the server to close
      }
      if (!finished) this.showError("the generation stream ended before a result");
    } catch (err) {
      if (err.name === "AbortError") clear(this.message).append(h("p", { text: "Cancelled." }));
      else this.showError(err.message);
    } finally {
      controller.abort(); // releases the connection (a no-op once the stream ended)
      this.controller = null;
      this.jobId = null;
      this.preview.hidden = true;
      this.setBusy(false);
      await this.loadGallery();
    }
  }

  async cancel() {
    if (!this.controller) return;
    this.progressText.textContent = "Cancelling…";
    if (this.jobId) {
      try {
        await api("/api/images/cancel", { method: "POST", body: { job_id: this.jobId } });
        return; // the stream ends with a "cancelled" error event
      } catch {
        // already finished or unknown: fall through to aborting the request
      }
    }
    this.controller?.abort();
  }
}
