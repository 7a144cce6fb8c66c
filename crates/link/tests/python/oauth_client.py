"""requests-oauthlib, a third-party OAuth 2.0 client, does the code grant and a refresh
against rask's account linking.

Environment: RASK_URL, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, USERNAME, PASSWORD.
The pages are walked with a plain requests session, as a browser would.
"""
import os
import re
from html.parser import HTMLParser

import requests
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

# The token endpoint is plain HTTP on loopback in this test.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

base, client_id, secret = os.environ["RASK_URL"], os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"]
redirect_uri = os.environ["REDIRECT_URI"]


class Form(HTMLParser):
    def __init__(self):
        super().__init__()
        self.action, self.fields = None, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action")
        elif tag == "input" and a.get("name") and a.get("type") in ("hidden", None, "text"):
            self.fields[a["name"]] = a.get("value") or ""


def form_of(html):
    f = Form()
    f.feed(html)
    return f


oauth = OAuth2Session(client_id, redirect_uri=redirect_uri, scope=["smart_home"])
authorization_url, state = oauth.authorization_url(base + "/oauth/authorize")

browser = requests.Session()
login = form_of(browser.get(authorization_url).text)
fields = dict(login.fields, username=os.environ["USERNAME"], password=os.environ["PASSWORD"])
consent = form_of(browser.post(base + login.action, data=fields).text)
done = browser.post(base + consent.action, data=dict(consent.fields, decision="allow"), allow_redirects=False)
assert done.status_code == 302, done.status_code
callback = done.headers["Location"]
assert callback.startswith(redirect_uri), callback

token = oauth.fetch_token(base + "/oauth/token", authorization_response=callback,
                          auth=HTTPBasicAuth(client_id, secret))
assert token["token_type"].lower() == "bearer", token
assert token["expires_in"] == 3600
print("code grant ok")

refreshed = oauth.refresh_token(base + "/oauth/token", auth=HTTPBasicAuth(client_id, secret))
assert refreshed["access_token"] != token["access_token"]
assert refreshed["refresh_token"] != token["refresh_token"]
print("refresh ok", refreshed["access_token"])
