// Applies the theme chosen on this browser before the page is first drawn.
// A classic script loaded in <head> without defer, so it runs before the
// body is parsed and the first paint already has the right colours (no
// flash of the other theme); an inline script would do the same but the
// page's Content-Security-Policy allows only scripts from its own files.
// theme.js owns the choice; this only reads it.
(function () {
  try {
    var theme = window.localStorage.getItem("pluma.theme");
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  } catch (err) {
    // Storage refused (privacy mode): the system setting applies.
  }
})();
