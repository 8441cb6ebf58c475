// The theme reads its colour mode from localStorage and logs an error when none was ever chosen.
if (!document.documentElement.dataset.mode) {
  document.documentElement.dataset.mode = "light";
}

// A widget in the static book shows the state stored when its notebook was executed: no kernel can run it.
// So that its controls do not pretend to work, disable them and say so above the widget.
function markStaticWidgets() {
  document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').forEach(function (view) {
    var area = view.parentElement;
    if (!area || area.dataset.staticPreview) return;
    if (!area.querySelector(".jupyter-widgets, .widget-container, .lm-Widget")) return;  // not rendered yet
    area.dataset.staticPreview = "1";
    area.querySelectorAll("button, input, select, textarea").forEach(function (control) {
      control.disabled = true;
    });
    area.querySelectorAll(".noUi-handle, .slider-container").forEach(function (handle) {
      handle.setAttribute("aria-disabled", "true");
      handle.style.pointerEvents = "none";
    });
    // The slider's handle (role="slider") is named by the widget's description, e.g. "learning rate".
    area.querySelectorAll('.noUi-handle[role="slider"]').forEach(function (handle) {
      var widget = handle.closest(".widget-slider");
      var label = widget && widget.querySelector(".widget-label");
      var text = label && label.textContent.trim();
      if (!handle.hasAttribute("aria-label")) handle.setAttribute("aria-label", text || "slider");
    });
    var note = document.createElement("p");
    note.className = "static-widget-note";
    note.textContent = "Static preview: these controls need a running notebook (open the chapter in " +
      "JupyterLab or Colab). What you see is the demo's stored default run.";
    note.style.cssText = "font-size: 0.85em; font-style: italic; color: #404040; margin: 0.25em 0;";
    area.insertBefore(note, area.firstChild);
  });
}
// The plots a stored widget view draws get the alt text of their cell (mystnb.image.alt), which the build
// put in a hidden marker (book/_ext/course_book.py, figure_alt).
function altWidgetImages() {
  document.querySelectorAll(".course-figure-alt").forEach(function (marker) {
    var cell = marker.closest(".cell");
    if (!cell) return;
    cell.querySelectorAll("img:not([alt])").forEach(function (img) {
      img.setAttribute("alt", marker.dataset.alt);
    });
  });
}
var staticWidgetChecks = 0;
var staticWidgetTimer = setInterval(function () {
  markStaticWidgets();
  altWidgetImages();
  if (++staticWidgetChecks >= 40) clearInterval(staticWidgetTimer);  // widgets render within a few seconds
}, 250);

// The theme's buttons whose accessible name differs from their text (WCAG 2.5.3, "label in name"). The search
// button shows "Search Ctrl+K": named by that text (its aria-label was "Search"), the shortcut also as
// aria-keyshortcuts. The colour-mode button's icons carry titles ("Light", "Dark", ...) that are not its name
// "Color mode": drop them, before Font Awesome turns the icons into SVGs (its <title>s, if it already did).
function mendThemeButtons() {
  document.querySelectorAll(".search-button__button").forEach(function (button) {
    if (!button.querySelector(".search-button__kbd-shortcut")) return;  // the icon-only button keeps its label
    button.removeAttribute("aria-label");
    button.setAttribute("aria-keyshortcuts", "Control+K");
  });
  document.querySelectorAll(".theme-switch-button .theme-switch").forEach(function (icon) {
    icon.removeAttribute("title");
    icon.removeAttribute("aria-labelledby");
    icon.setAttribute("aria-hidden", "true");
    icon.querySelectorAll("title").forEach(function (title) { title.remove(); });
  });
}
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mendThemeButtons);
else mendThemeButtons();
