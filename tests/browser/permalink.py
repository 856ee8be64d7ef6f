"""What the permalink tests share: a view's whole visible state read from the page (every control and every
number: selects, inputs, dropdowns, grid cells, chart data, texts), the link copied from the Link box through
the real clipboard, and a fresh browser session (no cookies, no storage, no history) to open it in."""
from __future__ import annotations

import time
from contextlib import contextmanager
from urllib.parse import parse_qs, urlparse

from dash.testing.browser import Browser
from dash.testing.wait import until

from tests.browser.conftest import pytest_setup_options

# Read in the page: controls by id, grids' rows in their order, charts' traces (typed arrays as lists) and
# titles, and the text of the elements `texts` names. Elements under `skip` (clocks, "updated 3 s ago") and
# ids starting with `permalink` are left out: the first change by the second, and the Link box is compared
# as a query string by the tests.
STATE_SCRIPT = """
const skip = arguments[0], texts = arguments[1];
const skipped = el => skip.some(s => el.closest(s));
const key = el => el.id || el.getAttribute('name') || '';
const list = v => v == null ? null : (ArrayBuffer.isView(v) ? Array.from(v) : (v.bdata ? v.bdata : v));
const state = {selects: {}, inputs: {}, dropdowns: {}, grids: {}, charts: {}, texts: {}};
document.querySelectorAll('select').forEach(el => {
    if (!skipped(el)) { state.selects[key(el)] = el.value; } });
document.querySelectorAll('input').forEach(el => {
    if (skipped(el) || key(el).startsWith('permalink') || !key(el)) { return; }
    state.inputs[key(el)] = (el.type === 'checkbox' || el.type === 'radio') ? el.checked : el.value; });
document.querySelectorAll('[id^="filter-"]').forEach(el => {
    if (!skipped(el) && !['INPUT', 'SELECT'].includes(el.tagName)) { state.dropdowns[el.id] = el.innerText.trim(); } });
document.querySelectorAll('.ag-root-wrapper').forEach(wrapper => {
    const holder = wrapper.closest('div[id]');
    if (!holder || skipped(holder)) { return; }
    const byIndex = {};
    wrapper.querySelectorAll('.ag-row').forEach(row => {
        const i = row.getAttribute('row-index');
        byIndex[i] = (byIndex[i] || []).concat(Array.from(row.querySelectorAll('.ag-cell'))
            .map(c => (c.getAttribute('col-id') || '') + '=' + c.innerText));
    });
    const header = Array.from(wrapper.querySelectorAll('.ag-header-cell-text')).map(h => h.innerText);
    state.grids[holder.id] = {header: header, rows: Object.keys(byIndex).sort((a, b) => a - b).map(i => byIndex[i])};
});
document.querySelectorAll('.js-plotly-plot').forEach(gd => {
    if (skipped(gd)) { return; }
    const holder = gd.closest('[id]');
    const title = gd.layout && gd.layout.title ? (gd.layout.title.text || gd.layout.title) : null;
    state.charts[holder ? holder.id : '?'] = {title: title, traces: (gd.data || []).map(t => ({
        name: t.name || null, type: t.type || null, x: list(t.x), y: list(t.y), text: list(t.text)}))};
});
texts.forEach(sel => { document.querySelectorAll(sel).forEach((el, i) => {
    state.texts[sel + (i ? '#' + i : '')] = el.innerText; }); });
return state;
"""


def view_state(driver, texts: tuple[str, ...] = (), skip: tuple[str, ...] = ()) -> dict:
    """Every control's state and every number the view shows (see STATE_SCRIPT)."""
    return driver.execute_script(STATE_SCRIPT, list(skip) + ["#updated-ago", "#freshness", "#export-message"],
                                 list(texts))


def query(url: str) -> dict:
    return parse_qs(urlparse(url).query)


def settled(duo) -> None:
    """No callback running, and none starting for a second."""
    def idle():
        return duo.driver.execute_script("return !document.querySelector('[data-dash-is-loading=\"true\"]');")
    for _ in range(2):
        until(idle, timeout=30)
        time.sleep(1)


def link_box_follows_the_url(duo) -> None:
    """The Link box holds the URL's parameters (in its own order, with defaults written out)."""
    until(lambda: query(duo.find_element("#permalink").get_attribute("value")).items()
          >= query(duo.driver.current_url).items(), timeout=15)


def copy_link(duo) -> str:
    """Click the Link box's copy button and read what reached the clipboard."""
    duo.driver.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": duo.server.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    duo.driver.execute_script("navigator.clipboard.writeText('')")
    duo.driver.execute_script("arguments[0].click();", duo.find_element("#permalink-copy"))
    return until(lambda: duo.driver.execute_async_script(
        "const done = arguments[0]; navigator.clipboard.readText().then(done, () => done(null));"), timeout=10)


@contextmanager
def fresh_session(tmp_path, link: str):
    """A second headless Chromium, of its own profile, on `link`."""
    download = tmp_path / "fresh"
    download.mkdir(exist_ok=True)
    with Browser("chrome", headless=True, options=[pytest_setup_options()], download_path=str(download),
                 percy_run=False, wait_timeout=20) as fresh:
        fresh.driver.get(link)
        yield fresh


# Makes the `first` choice; then, when the server's answer with the view redrawn for it arrives and before the page
# draws it, makes the `second` on the controls still shown: as a person's second click lands while the view
# redraws. Done in the page, where it can be timed to that answer (the one for Dash Pages' content, once the URL
# carries `marker`); true if the view was drawn before the second choice.
# A choice is [how, element id, value]: `select` picks an option of a native <select> as a person does (its
# value set, a change event); `props` sets a Dash component's value as its own onChange does (a dcc.Dropdown's
# menu, a debounced input's Enter), through dash_clientside.set_props; `click` clicks the element (a checkbox);
# `chart` clicks the point of the chart whose customdata is `value` (plotly's hover then its click event, what
# a click on the bar emits).
RACE = """
const [first, second, marker, done] = arguments;
const element = id => document.getElementById(id);
const set = Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value').set;
const choose = ([how, id, value]) => {
    const el = element(id);
    if (how === 'select') { set.call(el, value); el.dispatchEvent(new Event('change', {bubbles: true})); }
    else if (how === 'props') { window.dash_clientside.set_props(id.startsWith('{') ? JSON.parse(id) : id, {value: value}); }
    else if (how === 'click') { el.click(); }
    else if (how === 'chart') {
        const gd = el.querySelector('.js-plotly-plot');
        const curve = gd.data.findIndex(t => Array.from(t.customdata || []).includes(value));
        window.Plotly.Fx.hover(gd, [{curveNumber: curve, pointNumber: Array.from(gd.data[curve].customdata).indexOf(value)}]);
        gd.emit('plotly_click', {points: gd._hoverdata, event: new MouseEvent('click')});
    }
};
const two = element(second[1]);
const fetch_ = window.fetch;
window.fetch = function (url, options) {
    const answer = fetch_.apply(this, arguments);
    const redraw = String(url).includes('_dash-update-component')
                   && String((options || {}).body).includes('_pages_content') && location.search.includes(marker);
    if (!redraw) { return answer; }
    window.fetch = fetch_;
    return answer.then(response => {
        const drawn = !document.body.contains(two);
        if (!drawn) { choose(second); }
        done(drawn);
        return response;
    });
};
choose(first);
"""


def choose_while_redrawing(duo, first: tuple, second: tuple, marker: str) -> None:
    """`first` and `second`: (how, id, value) as RACE reads them, or (id, value) of a native <select>."""
    choices = [list(c) if len(c) == 3 else ["select", *c] for c in (first, second)]
    drawn = duo.driver.execute_async_script(RACE, *choices, marker)
    assert drawn is False, "the view was drawn before the second choice: the race did not happen"
