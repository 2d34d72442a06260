// The theme menu in the header: System (follow prefers-color-scheme),
// Light or Dark, remembered in this browser's localStorage ("pluma.theme";
// no entry means System). The choice is the `data-theme` attribute on
// <html>, which app.css reads; theme_boot.js applies a stored choice before
// the first paint.

export const STORAGE_KEY = "pluma.theme";
const CHOICES = new Set(["system", "light", "dark"]);

/** The stored choice: "system", "light" or "dark". */
export function storedTheme() {
  try {
    const value = localStorage.getItem(STORAGE_KEY);
    return value === "light" || value === "dark" ? value : "system";
  } catch {
    return "system";
  }
}

function apply(theme) {
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
}

/** Apply and remember a choice. */
export function setTheme(choice) {
  const theme = CHOICES.has(choice) ? choice : "system";
  apply(theme);
  try {
    if (theme === "system") localStorage.removeItem(STORAGE_KEY);
    else localStorage.setItem(STORAGE_KEY, theme);
  } catch {
    // Not remembered (storage refused); it still applies to this page.
  }
}

/** Wire the header's menu. */
export function initThemeMenu(select = document.getElementById("theme")) {
  if (!select) return;
  select.value = storedTheme();
  select.addEventListener("change", () => setTheme(select.value));
  // Another tab changed it: follow.
  window.addEventListener("storage", (e) => {
    if (e.key !== STORAGE_KEY) return;
    select.value = storedTheme();
    apply(select.value);
  });
}

initThemeMenu();
