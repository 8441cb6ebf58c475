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
    var note = document.createElement("p");
    note.className = "static-widget-note";
    note.textContent = "Static preview: these controls need a running notebook (open the chapter in " +
      "JupyterLab or Colab). What you see is the demo's stored default run.";
    note.style.cssText = "font-size: 0.85em; font-style: italic; color: #404040; margin: 0.25em 0;";
    area.insertBefore(note, area.firstChild);
  });
}
var staticWidgetChecks = 0;
var staticWidgetTimer = setInterval(function () {
  markStaticWidgets();
  if (++staticWidgetChecks >= 40) clearInterval(staticWidgetTimer);  // widgets render within a few seconds
}, 250);
