// Loaded on pages with widgets, between require.js and the ipywidgets HTML manager (embed-amd.js).
(function () {
  // 1. Tell RequireJS where the manager lives (the `widgets/` folder served with the book). Its modules
  //    ("@jupyter-widgets/base", ".../controls", ...) find their fonts and chunks next to their own URL,
  //    which RequireJS derives from this mapping instead of from the page's folder.
  var widgets = new URL("../widgets", document.currentScript.src).href;
  require.config({
    paths: { "@jupyter-widgets/html-manager/dist": widgets, "@jupyter-widgets": widgets },
  });
  // 2. The manager typesets widget labels with the MathJax 2 API (MathJax.Hub.Queue); the book loads
  //    MathJax 3, so translate the one call it makes. Deferred MathJax has loaded by DOMContentLoaded,
  //    and this listener runs before the manager's own.
  document.addEventListener("DOMContentLoaded", function () {
    var mj = window.MathJax;
    if (mj && !mj.Hub) {
      mj.Hub = {
        Queue: function () {
          var nodes = [];
          for (var i = 0; i < arguments.length; i++) {
            var a = arguments[i];
            if (Array.isArray(a) && a[0] === "Typeset" && a[2]) nodes.push(a[2]);
          }
          if (nodes.length && mj.typesetPromise) mj.typesetPromise(nodes).catch(function () {});
        },
      };
    }
  });
})();
