"""The browser sign-in page (for the MLflow UI and other pages a browser opens directly)."""

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mlplatform — sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}
input,button{font:inherit;width:100%;padding:.5rem;margin:.25rem 0;box-sizing:border-box}
.err{color:#b00020}</style></head>
<body><h1>mlplatform</h1>
<p>Sign in with an API key (<code>mlplatform</code> keys start with <code>mlp_</code>).</p>
<form method="post" action="/api/v1/auth/session">
<label for="api_key">API key</label><input id="api_key" name="api_key" type="password" autocomplete="off" required>
<input type="hidden" name="next" id="next" value="/mlflow/">
<button type="submit">Sign in</button></form>
<p class="err" id="err" hidden>That key was not accepted.</p>
<script>const q=new URLSearchParams(location.search);
if(q.get("error"))document.getElementById("err").hidden=false;
const n=q.get("next");if(n&&n[0]==="/"&&!["/","\\\\"].includes(n[1]))document.getElementById("next").value=n;</script>
</body></html>
"""
