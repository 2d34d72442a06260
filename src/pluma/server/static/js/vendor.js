// Loading the vendored third-party files (static/vendor/, see its README)
// on first use, so a page that never shows code or math never downloads
// them. Scripts are the packages' own browser builds (classic scripts that
// set a global), added as <script> elements from this origin, which the
// page's Content-Security-Policy allows; each file is requested once.

const VENDOR = new URL("../vendor/", import.meta.url);
const loading = new Map(); // url -> Promise

/** The URL of a file under static/vendor/. */
export function vendorUrl(path) {
  return new URL(path, VENDOR).href;
}

function once(url, make) {
  let promise = loading.get(url);
  if (!promise) {
    promise = make(url);
    loading.set(url, promise);
    // A failed load may be retried later (e.g. the server was restarting).
    promise.catch(() => loading.delete(url));
  }
  return promise;
}

/** Run a vendored classic script once; resolves when it has run.
 * `attrs`: extra attributes for the element (e.g. Prism's data-manual). */
export function loadScript(path, attrs = {}) {
  return once(vendorUrl(path), (url) => new Promise((resolve, reject) => {
    const script = document.createElement("script");
    for (const [name, value] of Object.entries(attrs)) script.setAttribute(name, value);
    script.async = false; // run in the order requested
    script.src = url;
    script.onload = () => resolve();
    script.onerror = () => reject(new Error(`could not load ${url}`));
    document.head.append(script);
  }));
}

/** Add a vendored stylesheet once; resolves when it applies. */
export function loadStyle(path) {
  return once(vendorUrl(path), (url) => new Promise((resolve, reject) => {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = url;
    link.onload = () => resolve();
    link.onerror = () => reject(new Error(`could not load ${url}`));
    document.head.append(link);
  }));
}
