/* The export menus' data items are links to /api/v1/export (components/exports.py, api/export.py). A click:
   1. adds the page's current query string (the filters change without the menu being drawn again), keeping
      the link's own view, table and format;
   2. asks the endpoint with check=1 whether the file may be made (the row limit, the analyst role, the
      filters), so a refusal is a message in the page, not an error page where the download should be;
   3. then lets the browser download the file itself: its download manager shows the progress, and no Dash
      callback waits for it.
   A refusal goes to the Store `export-problem`; pages/_exports.py shows it in the view's toolbar. */
(function () {
    const OWN = ['view', 'table', 'format', 'check', 'token'];

    function fileUrl(link) {
        const address = new URL(link.href, window.location.href);
        const own = address.searchParams;
        const mine = OWN.slice(0, 3).filter(k => own.has(k))
            .map(k => encodeURIComponent(k) + '=' + encodeURIComponent(own.get(k)));
        // the page's query string as it is written (commas, colons unescaped), less the endpoint's own keys
        const page = window.location.search.replace(/^\?/, '').split('&')
            .filter(part => part && !OWN.includes(decodeURIComponent(part.split('=')[0])));
        return address.pathname + '?' + mine.concat(page).join('&');
    }

    function tell(problem) {
        if (window.dash_clientside && window.dash_clientside.set_props) {
            window.dash_clientside.set_props('export-problem', {data: Object.assign({at: Date.now()}, problem)});
        }
    }

    function download(url) {
        const link = document.createElement('a');
        link.href = url;
        link.download = '';  // the server's Content-Disposition names the file
        link.style.display = 'none';
        document.body.appendChild(link);
        link.click();
        link.remove();
    }

    function exportLink(target) {
        return target && target.closest ? target.closest('a.pulse-export[href*="/api/v1/export?"]') : null;
    }

    // Keep the link's address current while it is pointed at, so "copy link address" gets the filters too.
    document.addEventListener('pointerover', function (event) {
        const link = exportLink(event.target);
        if (link) { link.href = fileUrl(link); }
    }, true);

    document.addEventListener('click', function (event) {
        const link = exportLink(event.target);
        if (!link) { return; }
        event.preventDefault();
        const url = fileUrl(link);
        link.href = url;
        fetch(url + '&check=1', {credentials: 'same-origin', headers: {Accept: 'application/json'}})
            .then(function (answer) {
                return answer.json().catch(() => ({})).then(function (body) {
                    if (answer.ok) {
                        tell({status: 'ok', rows: body.rows, file: body.file});
                        download(url);
                    } else {
                        tell(Object.assign({}, body, {status: answer.status}));
                    }
                });
            })
            .catch(error => tell({status: 0, error: 'the server did not answer (' + error + ')'}));
    }, true);
})();
