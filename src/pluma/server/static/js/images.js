// The Images view: the form → POST /api/images/generate (SSE progress) →
// stored result, a queue of the jobs running and waiting, and the gallery.
//
// Generation stream events (see routes/images.py):
// | event      | data                                           | shown as               |
// |------------|------------------------------------------------|------------------------|
// | start      | {job_id, connection}                           | a row in the job queue |
// | progress   | {fraction, step, steps, queued, text, preview} | the row's bar, preview |
// | result     | {images: [records], parameters, warnings}      | message, gallery       |
// | error      | {"error": {message, code}}                     | inline alert           |
//
// Jobs are started with `detach: true`: they outlive a reload. On load the
// view lists GET /api/images/jobs and follows each again through
// /api/images/jobs/{id}/events, so the queue, its progress and Cancel come
// back. The form's values are kept in localStorage for the same reason.
// Cancel posts the job id to /api/images/cancel.

import { h, clear, field, announce, uid } from "./dom.js";
import { api, readError } from "./api.js";
import { postForEvents, readEvents } from "./sse.js";
import { errorPayload } from "./errors.js";

const SIZES = ["512x512", "768x768", "1024x1024", "512x768", "768x512", "832x1216", "1216x832"];
const FORM_KEY = "pluma.imageForm";
const MAX_PICTURE_BYTES = 16 * 1024 * 1024;

function describe(params = {}) {
  const parts = [];
  if (params.width && params.height) parts.push(`${params.width}×${params.height}`);
  if (params.steps) parts.push(`${params.steps} steps`);
  if (params.seed !== undefined && params.seed !== null) parts.push(`seed ${params.seed}`);
  if (params.init_image) parts.push(params.mask ? "inpainting" : `img2img ${params.denoise}`);
  if (params.hires) parts.push(`hires ×${params.hires.scale}`);
  if (params.checkpoint) parts.push(params.checkpoint);
  return parts.join(" · ");
}

function readAsDataURL(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error || new Error("unreadable"));
    reader.readAsDataURL(file);
  });
}

function number(attrs) {
  return h("input", { type: "number", ...attrs });
}

function options(select, names, keep, defaultLabel) {
  clear(select).append(h("option", { value: "", text: defaultLabel }));
  for (const name of names || []) select.append(h("option", { value: name, text: name }));
  select.value = (names || []).includes(keep) ? keep : "";
}

export class ImagesView {
  constructor(app) {
    this.app = app;
    this.root = document.getElementById("view-images");
    this.jobs = new Map(); // job_id → {row, bar, text, cancel}
    this.init = null; // {dataUrl?, id?, label}
    this.mask = null; // {dataUrl, label}
    this.loras = []; // [{name, weight}]
    this.build();
    this.restore();
  }

  build() {
    this.connectionNote = h("p", { class: "muted", role: "status" });
    this.prompt = h("textarea", { rows: "3", required: true,
      placeholder: "A lighthouse on a cliff at dawn, oil painting" });
    this.negative = h("textarea", { rows: "2", placeholder: "blurry, low quality" });
    this.size = h("select", {}, SIZES.map((s) => h("option", { value: s, text: s.replace("x", " × ") })));
    this.steps = number({ min: "1", max: "150", value: "20" });
    this.cfg = number({ min: "0", max: "30", step: "0.5", value: "7" });
    this.seed = number({ placeholder: "random" });
    this.checkpoint = h("select", {}, h("option", { value: "", text: "Connection default" }));
    this.sampler = h("select", {}, h("option", { value: "", text: "Backend default" }));
    this.scheduler = h("select", {}, h("option", { value: "", text: "Backend default" }));
    this.vae = h("select", {}, h("option", { value: "", text: "Checkpoint's own" }));
    this.batchSize = number({ min: "1", max: "8", value: "1" });
    this.batchCount = number({ min: "1", max: "32", value: "1" });

    // Image to image: an uploaded picture or a gallery one, with denoise and a mask.
    this.initFile = h("input", { type: "file", accept: "image/png,image/jpeg,image/webp" });
    this.initNote = h("p", { class: "small", role: "status", text: "None: text to image." });
    this.initThumb = h("img", { class: "thumb", alt: "init image", hidden: true });
    this.initClear = h("button", { type: "button", class: "secondary", text: "Remove init image",
      hidden: true, onclick: () => this.setInit(null) });
    this.denoise = number({ min: "0", max: "1", step: "0.05", value: "0.75" });
    this.maskFile = h("input", { type: "file", accept: "image/png,image/jpeg,image/webp" });
    this.maskNote = h("p", { class: "small", role: "status", text: "None: the whole picture may change." });
    this.maskClear = h("button", { type: "button", class: "secondary", text: "Remove mask",
      hidden: true, onclick: () => this.setMask(null) });
    this.paintButton = h("button", { type: "button", class: "secondary", text: "Paint mask",
      onclick: () => this.paintMask() });
    this.painter = h("div", { class: "painter", hidden: true });
    this.initFile.addEventListener("change", () => this.pick(this.initFile, (v) => this.setInit(v)));
    this.maskFile.addEventListener("change", () => this.pick(this.maskFile, (v) => this.setMask(v)));
    this.img2img = h("fieldset", { class: "wide img2img" },
      h("legend", { text: "Image to image" }),
      field("Init image", this.initFile, "Or use “Use as init image” on a gallery picture."),
      this.initThumb, this.initNote, this.initClear,
      h("div", { class: "needs-init" },
        field("Denoising strength", this.denoise, "0 keeps the picture, 1 ignores it."),
        field("Mask (inpainting)", this.maskFile,
          "White repaints, black keeps. Or paint it on the picture (mouse, pen or touch)."),
        h("div", { class: "row" }, this.paintButton, this.maskClear), this.maskNote, this.painter));

    // Hires fix (text to image only).
    this.hires = h("input", { type: "checkbox" });
    this.hrScale = number({ min: "1", max: "4", step: "0.25", value: "2" });
    this.hrUpscaler = h("select", {}, h("option", { value: "", text: "Backend default" }));
    this.hrSteps = number({ min: "0", max: "150", value: "0" });
    this.hrDenoise = number({ min: "0", max: "1", step: "0.05", value: "0.5" });
    this.hiresFields = h("div", { class: "hires-fields" },
      field("Upscale by", this.hrScale), field("Upscaler", this.hrUpscaler),
      field("Hires steps", this.hrSteps, "0: as many as the first pass."),
      field("Hires denoise", this.hrDenoise));
    this.hires.addEventListener("change", () => this.sync());
    this.hiresBox = h("fieldset", { class: "wide hires" },
      h("legend", { text: "Hires fix" }),
      h("label", { class: "check" }, this.hires, " Upscale in a second pass"),
      this.hiresFields);

    // LoRAs the backend lists, each with a weight.
    this.loraPick = h("select", {}, h("option", { value: "", text: "Choose a LoRA" }));
    this.loraWeight = number({ min: "-5", max: "5", step: "0.05", value: "1" });
    this.loraList = h("ul", { class: "chips", "aria-label": "LoRAs in use" });
    this.loraBox = h("fieldset", { class: "wide loras" },
      h("legend", { text: "LoRAs" }),
      h("div", { class: "row" }, field("LoRA", this.loraPick), field("Weight", this.loraWeight),
        h("button", { type: "button", class: "secondary", text: "Add LoRA", onclick: () => this.addLora() })),
      this.loraList);

    this.generateButton = h("button", { type: "submit", text: "Generate" });
    this.preview = h("img", { class: "preview", alt: "live preview of the image being generated", hidden: true });
    this.queue = h("ul", { class: "job-queue", "aria-label": "Image jobs" });
    this.queueBox = h("section", { class: "queue-box", "aria-label": "Queue", hidden: true },
      h("h3", { text: "Queue" }), this.queue);
    this.message = h("div", { role: "status", "aria-live": "polite" });
    this.gallery = h("ul", { class: "gallery", "aria-label": "Generated images" });

    this.form = h("form", { class: "image-form", "aria-label": "Generate an image" },
      h("div", { class: "wide" }, field("Prompt", this.prompt)),
      h("div", { class: "wide" }, field("Negative prompt", this.negative)),
      field("Size", this.size),
      field("Steps", this.steps),
      field("CFG scale", this.cfg, "How closely to follow the prompt."),
      field("Seed", this.seed, "Empty for a random seed (the one used is shown)."),
      field("Checkpoint", this.checkpoint),
      field("Sampler", this.sampler),
      field("Scheduler", this.scheduler),
      field("VAE", this.vae),
      field("Batch size", this.batchSize, "Pictures made at once."),
      field("Batch count", this.batchCount, "Batches made one after another."),
      this.img2img, this.hiresBox, this.loraBox,
      h("div", { class: "wide row" }, this.generateButton));
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.generate();
    });
    this.form.addEventListener("input", () => this.save());
    this.form.addEventListener("change", () => this.save());
    clear(this.root).append(
      h("h2", { text: "Images" }),
      this.connectionNote,
      this.form,
      this.queueBox,
      this.preview,
      this.message,
      h("h3", { text: "Gallery" }),
      this.gallery);
    this.sync();
  }

  // -- form state ---------------------------------------------------------------

  controls() {
    return { prompt: this.prompt, negative: this.negative, size: this.size, steps: this.steps,
      cfg: this.cfg, seed: this.seed, checkpoint: this.checkpoint, sampler: this.sampler,
      scheduler: this.scheduler, vae: this.vae, batchSize: this.batchSize, batchCount: this.batchCount,
      denoise: this.denoise, hrScale: this.hrScale, hrUpscaler: this.hrUpscaler, hrSteps: this.hrSteps,
      hrDenoise: this.hrDenoise };
  }

  /** Keep the form in localStorage, so a reload loses nothing typed. */
  save() {
    const values = {};
    for (const [key, el] of Object.entries(this.controls())) values[key] = el.value;
    values.hires = this.hires.checked;
    values.loras = this.loras;
    // A gallery picture is kept by id; an upload only while it fits.
    values.init = this.init && (this.init.id || this.init.dataUrl.length < 2_000_000) ? this.init : null;
    values.mask = this.mask && this.mask.dataUrl.length < 2_000_000 ? this.mask : null;
    try {
      localStorage.setItem(FORM_KEY, JSON.stringify(values));
    } catch {
      values.init = this.init?.id ? this.init : null;
      values.mask = null;
      try { localStorage.setItem(FORM_KEY, JSON.stringify(values)); } catch { /* full: skip */ }
    }
  }

  restore() {
    let values;
    try {
      values = JSON.parse(localStorage.getItem(FORM_KEY) || "null");
    } catch {
      values = null;
    }
    if (!values) return;
    this.saved = values; // selects get their lists later (loadOptions)
    for (const [key, el] of Object.entries(this.controls())) {
      if (typeof values[key] === "string" && el.tagName !== "SELECT") el.value = values[key];
    }
    if (SIZES.includes(values.size)) this.size.value = values.size;
    this.hires.checked = Boolean(values.hires);
    this.loras = Array.isArray(values.loras) ? values.loras : [];
    this.setInit(values.init || null, false);
    this.setMask(values.mask || null, false);
    this.renderLoras();
    this.sync();
  }

  sync() {
    const withInit = Boolean(this.init);
    this.img2img.querySelector(".needs-init").hidden = !withInit;
    this.hiresBox.hidden = withInit;
    this.hiresFields.hidden = !this.hires.checked;
  }

  async pick(input, set) {
    const file = input.files[0];
    input.value = "";
    if (!file) return;
    if (!file.type.startsWith("image/") || file.size > MAX_PICTURE_BYTES) {
      this.showError(`${file.name} is not a PNG, JPEG or WebP picture under 16 MB`);
      return;
    }
    set({ dataUrl: await readAsDataURL(file), label: file.name });
  }

  setInit(value, save = true) {
    this.init = value;
    this.initThumb.hidden = !value;
    if (value) this.initThumb.src = value.id ? `/api/images/${encodeURIComponent(value.id)}` : value.dataUrl;
    this.initNote.textContent = value ? `Init image: ${value.label}` : "None: text to image.";
    this.initClear.hidden = !value;
    if (!value) this.setMask(null, false);
    this.sync();
    if (save) this.save();
  }

  setMask(value, save = true) {
    this.mask = value;
    this.maskNote.textContent = value ? `Mask: ${value.label}` : "None: the whole picture may change.";
    this.maskClear.hidden = !value;
    if (save) this.save();
  }

  /** Paint the inpainting mask over the init image: white strokes on black,
   * at the picture's own size (what both backends expect). */
  async paintMask() {
    if (!this.init) return;
    const picture = new Image();
    picture.src = this.initThumb.src;
    try {
      await picture.decode();
    } catch {
      this.showError("the init image could not be loaded for painting");
      return;
    }
    const width = picture.naturalWidth;
    const height = picture.naturalHeight;
    const view = h("canvas", { width, height, class: "mask-canvas",
      "aria-label": "Init image: paint the area to repaint" });
    const strokes = h("canvas", { width, height }); // white on transparent
    const shown = view.getContext("2d");
    const drawn = strokes.getContext("2d");
    const redraw = () => {
      shown.drawImage(picture, 0, 0);
      shown.globalAlpha = 0.6;
      shown.drawImage(strokes, 0, 0);
      shown.globalAlpha = 1;
    };
    const exported = () => {
      const mask = h("canvas", { width, height });
      const g = mask.getContext("2d");
      g.fillStyle = "#000";
      g.fillRect(0, 0, width, height);
      g.drawImage(strokes, 0, 0);
      return mask.toDataURL("image/png");
    };
    redraw();
    const brush = h("input", { type: "range", min: "4", max: "160", value: "32" });
    let last = null;
    const at = (e) => {
      const box = view.getBoundingClientRect();
      return [(e.clientX - box.left) * (width / box.width), (e.clientY - box.top) * (height / box.height)];
    };
    const stroke = (to) => {
      drawn.strokeStyle = "#fff";
      drawn.lineCap = "round";
      drawn.lineWidth = Number(brush.value) * Math.max(width / view.getBoundingClientRect().width, 1);
      drawn.beginPath();
      drawn.moveTo(...(last || to));
      drawn.lineTo(...to);
      drawn.stroke();
      last = to;
      redraw();
    };
    view.addEventListener("pointerdown", (e) => {
      view.setPointerCapture(e.pointerId);
      last = null;
      stroke(at(e));
    });
    view.addEventListener("pointermove", (e) => { if (last) stroke(at(e)); });
    const end = () => { last = null; };
    view.addEventListener("pointerup", end);
    view.addEventListener("pointercancel", end);
    const close = () => {
      clear(this.painter);
      this.painter.hidden = true;
      this.paintButton.focus();
    };
    clear(this.painter).append(view,
      h("div", { class: "row" },
        field("Brush size", brush),
        h("button", { type: "button", class: "secondary", text: "Clear painting", onclick: () => {
          drawn.clearRect(0, 0, width, height);
          redraw();
        } }),
        h("button", { type: "button", text: "Use mask", onclick: () => {
          this.setMask({ dataUrl: exported(), label: "painted on the init image" });
          close();
        } }),
        h("button", { type: "button", class: "secondary", text: "Close painter", onclick: close })));
    this.painter.hidden = false;
  }

  addLora() {
    const name = this.loraPick.value;
    if (!name) return;
    const weight = Number(this.loraWeight.value);
    this.loras = [...this.loras.filter((l) => l.name !== name), { name, weight: Number.isFinite(weight) ? weight : 1 }];
    this.renderLoras();
    this.save();
  }

  renderLoras() {
    clear(this.loraList);
    for (const lora of this.loras) {
      this.loraList.append(h("li", {}, `${lora.name} × ${lora.weight}`,
        h("button", { type: "button", class: "icon", text: "✕", "aria-label": `Remove LoRA ${lora.name}`,
          onclick: () => {
            this.loras = this.loras.filter((l) => l !== lora);
            this.renderLoras();
            this.save();
          } })));
    }
  }

  // -- loading ----------------------------------------------------------------

  async refresh() {
    await Promise.all([this.loadConnection(), this.loadGallery(), this.loadJobs()]);
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
      await this.loadOptions();
    } catch (err) {
      this.connectionNote.textContent = `Image backend problem: ${err.message}`;
    }
  }

  /** Fill the choices from what the backend lists (GET /api/images/options). */
  async loadOptions() {
    const found = await api("/api/images/options");
    const saved = this.saved || {};
    const keep = (el, key) => el.value || saved[key] || "";
    options(this.checkpoint, found.checkpoints, keep(this.checkpoint, "checkpoint"), "Connection default");
    options(this.sampler, found.samplers, keep(this.sampler, "sampler"), "Backend default");
    options(this.scheduler, found.schedulers, keep(this.scheduler, "scheduler"), "Backend default");
    options(this.vae, found.vaes, keep(this.vae, "vae"), "Checkpoint's own");
    options(this.hrUpscaler, found.upscalers, keep(this.hrUpscaler, "hrUpscaler"), "Backend default");
    options(this.loraPick, found.loras, "", "Choose a LoRA");
    this.loraBox.hidden = !(found.loras || []).length && !this.loras.length;
    this.vae.closest(".field").hidden = !(found.vaes || []).length;
    this.scheduler.closest(".field").hidden = !(found.schedulers || []).length;
    const modes = found.modes || ["txt2img"];
    this.img2img.hidden = !modes.includes("img2img");
    if (!modes.includes("hires")) this.hiresBox.hidden = true;
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

  /** Jobs the server runs that this page does not follow yet (after a reload). */
  async loadJobs() {
    let body;
    try {
      body = await api("/api/images/jobs");
    } catch {
      return;
    }
    for (const job of body.jobs || []) {
      if (this.jobs.has(job.job_id)) continue;
      this.follow(job);
    }
  }

  figure(record) {
    const params = record.parameters || {};
    const prompt = params.prompt || "";
    const label = prompt || "generated image";
    return h("li", {}, h("figure", {},
      h("a", { href: record.url, target: "_blank", rel: "noopener" },
        h("img", { src: record.url, alt: label, loading: "lazy" })),
      h("figcaption", {}, h("div", { text: prompt }), h("div", { text: describe(params) }),
        h("div", { class: "row" },
          h("button", { type: "button", class: "secondary small", text: "Use as init image",
            "aria-label": `Use as init image: ${label}`,
            onclick: () => {
              this.setInit({ id: record.id, label: prompt || record.id });
              this.prompt.focus();
              announce("Init image set.");
            } }),
          h("button", { type: "button", class: "secondary small", text: "Send to chat",
            "aria-label": `Send to chat: ${label}`, onclick: () => this.sendToChat(record) })))));
  }

  /** Attach a gallery picture to the next chat message and open the chat. */
  async sendToChat(record) {
    try {
      const response = await fetch(record.url);
      if (!response.ok) throw await readError(response);
      const blob = await response.blob();
      const ext = (record.mime_type || "image/png").split("/")[1] || "png";
      const file = new File([blob], `${record.id}.${ext}`, { type: record.mime_type || blob.type });
      await this.app.chat.attachments.add([file]);
      this.app.show("chat");
      document.getElementById("composer-input")?.focus();
    } catch (err) {
      this.showError(`could not send the picture to the chat: ${err.message}`);
    }
  }

  showError(message) {
    clear(this.message).append(h("div", { class: "error", role: "alert" },
      h("p", {}, h("strong", { text: "Error: " }), message),
      h("p", { class: "hint", text: "Check the image backend in Settings (Test shows whether it answers), then try again." })));
  }

  // -- jobs ---------------------------------------------------------------------

  body() {
    const [width, height] = this.size.value.split("x").map(Number);
    const body = {
      prompt: this.prompt.value.trim(),
      negative_prompt: this.negative.value.trim(),
      width,
      height,
      steps: Number(this.steps.value) || 20,
      cfg_scale: Number(this.cfg.value),
      checkpoint: this.checkpoint.value,
      sampler: this.sampler.value,
      scheduler: this.scheduler.value,
      vae: this.vae.value,
      batch_size: Number(this.batchSize.value) || 1,
      batch_count: Number(this.batchCount.value) || 1,
      loras: this.loras,
      detach: true,
    };
    if (this.seed.value !== "") body.seed = Number(this.seed.value);
    if (this.init) {
      if (this.init.id) body.init_image_id = this.init.id;
      else body.init_image = this.init.dataUrl;
      body.denoise = Number(this.denoise.value);
      if (this.mask) body.mask = this.mask.dataUrl;
    } else if (this.hires.checked) {
      body.hires = { scale: Number(this.hrScale.value), upscaler: this.hrUpscaler.value,
        steps: Number(this.hrSteps.value) || 0, denoise: Number(this.hrDenoise.value) };
    }
    return body;
  }

  async generate() {
    const body = this.body();
    if (!body.prompt) {
      this.showError("write a prompt first");
      return;
    }
    clear(this.message);
    const controller = new AbortController();
    const row = this.row(null, body.prompt, controller);
    try {
      const response = await postForEvents("/api/images/generate", body, controller.signal);
      if (!response.ok) throw await readError(response);
      await this.consume(response, row);
    } catch (err) {
      this.dropRow(row);
      if (err.name === "AbortError") clear(this.message).append(h("p", { text: "Cancelled." }));
      else this.showError(err.message);
    } finally {
      controller.abort();
    }
  }

  /** Follow a job the server already runs (listed after a reload). */
  async follow(job) {
    const controller = new AbortController();
    const row = this.row(job.job_id, job.prompt, controller);
    this.update(row, { fraction: job.fraction, queued: job.state === "queued", text: job.text });
    try {
      const response = await fetch(`/api/images/jobs/${encodeURIComponent(job.job_id)}/events`,
        { headers: { Accept: "text/event-stream" }, signal: controller.signal });
      if (!response.ok) throw await readError(response);
      await this.consume(response, row);
    } catch (err) {
      this.dropRow(row);
      if (err.name !== "AbortError" && err.status !== 404) this.showError(err.message);
      await this.loadGallery(); // a job that ended meanwhile is in the gallery
    } finally {
      controller.abort();
    }
  }

  row(jobId, prompt, controller) {
    const bar = h("progress", { max: "1", value: "0", id: uid("progress") });
    const text = h("span", { class: "muted small", text: "Starting…" });
    const cancel = h("button", { type: "button", class: "danger", text: "Cancel",
      "aria-label": `Cancel: ${prompt}`, onclick: () => this.cancel(row) });
    const li = h("li", { class: "job" },
      h("div", { class: "job-head" }, h("strong", { text: prompt }), cancel),
      h("div", { class: "progress-box" }, h("label", { for: bar.id, text: "Progress " }), bar, " ", text));
    const row = { jobId, li, bar, text, cancel, controller };
    if (jobId) this.jobs.set(jobId, row);
    this.queue.append(li);
    this.queueBox.hidden = false;
    return row;
  }

  dropRow(row) {
    row.li.remove();
    if (row.jobId) this.jobs.delete(row.jobId);
    this.queueBox.hidden = this.queue.children.length === 0;
    if (this.queueBox.hidden) this.preview.hidden = true;
  }

  update(row, p) {
    const percent = Math.round((p.fraction || 0) * 100);
    row.bar.value = p.fraction || 0;
    row.li.classList.toggle("waiting", Boolean(p.queued));
    if (p.queued) row.text.textContent = `Waiting: ${p.text || "queued behind other jobs"}`;
    else if (p.steps) row.text.textContent = `Step ${p.step} of ${p.steps} (${percent}%)`;
    else row.text.textContent = `${percent}%`;
  }

  async consume(response, row) {
    let finished = false;
    for await (const { event, data } of readEvents(response)) {
      let payload = {};
      try {
        payload = JSON.parse(data);
      } catch {
        if (event !== "error") continue; // not JSON: nothing to show
      }
      if (event === "start") {
        row.jobId = payload.job_id;
        this.jobs.set(row.jobId, row);
      } else if (event === "progress") {
        this.update(row, payload);
        if (payload.preview) {
          this.preview.src = payload.preview;
          this.preview.hidden = false;
        }
      } else if (event === "result") {
        finished = true;
        const n = (payload.images || []).length;
        const done = h("p", { class: "ok", text:
          `Done: ${n} image${n === 1 ? "" : "s"} (${describe(payload.parameters)}).` });
        clear(this.message).append(done);
        for (const warning of payload.warnings || []) {
          this.message.append(h("p", { class: "warning", text: `Note: ${warning}` }));
        }
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
    this.dropRow(row);
    if (!finished) this.showError("the generation stream ended before a result");
    await this.loadGallery();
  }

  async cancel(row) {
    row.text.textContent = "Cancelling…";
    row.cancel.disabled = true;
    if (row.jobId) {
      try {
        await api("/api/images/cancel", { method: "POST", body: { job_id: row.jobId } });
        return; // the stream ends with a "cancelled" error event
      } catch {
        // already finished or unknown: fall through to aborting the request
      }
    }
    row.controller.abort();
  }
}
