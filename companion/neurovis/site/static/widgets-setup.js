// Loaded between RequireJS and the widget manager (embed-amd.js), on pages holding saved widgets.
// 1. Name the widget manager's bundled AMD modules after the local files, so webpack's public path
//    (derived from each module's URL) finds its fonts in _static/vendor/html-manager/ and not under
//    the page's folder.
// 2. The widget controls typeset labels with the MathJax 2 API (MathJax.Hub.Queue); the book loads
//    MathJax 3, so give it a minimal Hub that forwards to MathJax 3's typesetPromise.
(function () {
  var base = document.currentScript.src.replace(/widgets-setup\.js[^/]*$/, "html-manager/");
  require.config({
    paths: {
      "@jupyter-widgets/base": base + "base",
      "@jupyter-widgets/controls": base + "controls",
      "@jupyter-widgets/html-manager": base + "html-manager",
      "@jupyter-widgets/html-manager/dist/libembed-amd": base + "libembed-amd",
    },
  });
  function shimHub() {
    if (window.MathJax && !window.MathJax.Hub) {
      window.MathJax.Hub = {
        Config: function () {},
        Queue: function (cmd) {
          var el = Array.isArray(cmd) ? cmd[2] : null;
          var ready = (MathJax.startup && MathJax.startup.promise) || Promise.resolve();
          ready.then(function () { if (MathJax.typesetPromise) return MathJax.typesetPromise(el ? [el] : undefined); });
        },
      };
    }
  }
  shimHub();
  document.addEventListener("DOMContentLoaded", shimHub);
})();
