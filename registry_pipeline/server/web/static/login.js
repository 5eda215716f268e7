/* A login link of the form /login#token=rgp_...: the fragment never reaches the server's
 * logs; this fills the token form with it, forgets the fragment and sends the form. */
(function () {
  "use strict";
  var match = /^#token=(rgp_[A-Za-z0-9_-]{20,100})$/.exec(window.location.hash);
  var form = document.getElementById("token-login");
  if (!match || !form) { return; }
  history.replaceState(null, "", window.location.pathname + window.location.search);
  form.querySelector("input[name=token]").value = match[1];
  form.submit();
})();
