// The theme reads its colour mode from localStorage and logs an error when none was ever chosen.
if (!document.documentElement.dataset.mode) {
  document.documentElement.dataset.mode = "light";
}
