/// The page's one style sheet and one script (RunPage). The script only adds behaviour: the
/// tables and charts are in the HTML without it.
enum RunPageAssets {
    static let style = """
        :root { color-scheme: light dark; --fg: #1b1b1b; --bg: #fdfdfd; --muted: #666; --line: #ddd; --bad: #b00020; --head: #f1f1f1; }
        @media (prefers-color-scheme: dark) { :root { --fg: #e8e8e8; --bg: #161616; --muted: #aaa; --line: #3a3a3a; --bad: #ff6b81; --head: #242424; } }
        body { font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 1.5em auto; max-width: 1240px; padding: 0 1em; }
        h1 { font-size: 1.4em; } h2 { border-bottom: 1px solid var(--line); margin-top: 2em; } h3 { font-size: 1.05em; margin-bottom: .3em; }
        code, pre { font-family: ui-monospace, monospace; }
        table { border-collapse: collapse; margin: .4em 0; }
        th, td { padding: 2px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
        th { background: var(--head); } th.sortable { cursor: pointer; } th[data-dir="desc"]::after { content: " ▼"; } th[data-dir="asc"]::after { content: " ▲"; }
        .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        table.meta th { text-align: right; font-weight: normal; color: var(--muted); }
        tr.more, tr.hidden, table.filtering tr.more.hidden { display: none; } table.filtering tr.more { display: table-row; }
        .bad { color: var(--bad); } .note { color: var(--muted); } ul.warnings li { color: var(--bad); }
        figure { margin: 1em 0; } figure svg { width: 100%; max-width: 1000px; height: auto; display: block; } svg.flamegraph { max-width: none; }
        figcaption { color: var(--muted); font-size: .9em; } input[type=search] { margin: .3em 0; width: 24em; }
        nav a { margin-right: 1em; } footer { margin-top: 3em; } footer a { margin-right: .8em; }
        @media print { input, button, nav, figcaption.readout { display: none; } tr.more { display: table-row; } body { max-width: none; } }
        """

    static let script = """
        (function () {
          'use strict';
          var data = JSON.parse(document.getElementById('lockstat-data').textContent);
          var each = function (list, f) { Array.prototype.forEach.call(list, f); };
          var SHOWN = 20;

          each(document.querySelectorAll('table.lt'), function (table) {
            var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows), button = null;
            function collapse() {
              var all = button === null || button.dataset.all === '1';
              rows.forEach(function (r, i) { r.classList.toggle('more', !all && i >= SHOWN); });
            }
            if (rows.length > SHOWN) {
              button = document.createElement('button');
              button.textContent = 'show all ' + rows.length + ' rows';
              button.addEventListener('click', function () {
                var all = button.dataset.all !== '1';
                button.dataset.all = all ? '1' : '0';
                button.textContent = all ? 'show the first ' + SHOWN : 'show all ' + rows.length + ' rows';
                collapse();
              });
              table.parentNode.insertBefore(button, table.nextSibling);
              collapse();
            }
            each(table.tHead.rows[0].cells, function (th, k) {
              th.classList.add('sortable');
              th.addEventListener('click', function () {
                var numeric = th.classList.contains('num'), desc = th.dataset.dir !== 'desc';
                each(table.tHead.rows[0].cells, function (o) { delete o.dataset.dir; });
                th.dataset.dir = desc ? 'desc' : 'asc';
                rows.sort(function (a, b) {
                  var x, y;
                  if (numeric) {
                    x = parseFloat(a.cells[k].dataset.v); y = parseFloat(b.cells[k].dataset.v);
                    x = isNaN(x) ? -Infinity : x; y = isNaN(y) ? -Infinity : y;
                  } else { x = a.cells[k].textContent; y = b.cells[k].textContent; }
                  var order = x < y ? -1 : (x > y ? 1 : 0);
                  return desc ? -order : order;
                });
                rows.forEach(function (r) { body.appendChild(r); });
                collapse();
              });
            });
          });

          each(document.querySelectorAll('input.filter'), function (input) {
            var table = input.parentNode.querySelector('table.lt');
            input.addEventListener('input', function () {
              var term = input.value.toLowerCase();
              table.classList.toggle('filtering', term !== '');
              each(table.tBodies[0].rows, function (r) {
                r.classList.toggle('hidden', term !== '' && r.textContent.toLowerCase().indexOf(term) < 0);
              });
            });
          });

          each(document.querySelectorAll('svg.flamegraph'), function (svg) {
            var W = 1180, frames = svg.querySelectorAll('g.f');
            function name(g) { return g.querySelector('title').textContent.replace(/ \\([^()]*\\)$/, ''); }
            function place(g, x0, w0) {
              var x = (parseFloat(g.dataset.x) - x0) / w0, w = parseFloat(g.dataset.w) / w0;
              var r = g.querySelector('rect'), t = g.querySelector('text'), n = Math.floor(w * W / 7), s = name(g);
              r.setAttribute('x', 10 + x * W); r.setAttribute('width', Math.max(0, w * W)); t.setAttribute('x', 13 + x * W);
              t.textContent = n < 3 ? '' : (s.length <= n ? s : s.substring(0, n - 2) + '..');
            }
            function zoom(node) {
              var x0 = parseFloat(node.dataset.x), w0 = parseFloat(node.dataset.w), d0 = parseInt(node.dataset.d, 10);
              each(frames, function (g) {
                var x = parseFloat(g.dataset.x), w = parseFloat(g.dataset.w), d = parseInt(g.dataset.d, 10);
                var inside = x >= x0 - 1e-12 && x + w <= x0 + w0 + 1e-12;
                if (d < d0) { g.style.display = ''; place(g, 0, 1); g.querySelector('rect').setAttribute('x', 10); g.querySelector('rect').setAttribute('width', W); }
                else if (inside) { g.style.display = ''; place(g, x0, w0); }
                else { g.style.display = 'none'; }
              });
            }
            each(frames, function (g) {
              g.addEventListener('click', function () { zoom(g); });
              g.addEventListener('mouseover', function () { svg.querySelector('text.details').textContent = g.querySelector('title').textContent; });
            });
            var find = svg.parentNode.querySelector('input.find');
            find.addEventListener('input', function () {
              var re = null, matched = 0, total = 1, end = -1, spans = [];
              try { re = find.value === '' ? null : new RegExp(find.value); } catch (e) { return; }
              each(frames, function (g) {
                var r = g.querySelector('rect'), d = parseInt(g.dataset.d, 10);
                if (!r.dataset.fill) { r.dataset.fill = r.getAttribute('fill'); }
                if (d === 0) { total = parseFloat(g.dataset.w); }
                if (re !== null && d > 0 && re.test(name(g))) {
                  r.setAttribute('fill', 'rgb(230,0,230)');
                  spans.push([parseFloat(g.dataset.x), parseFloat(g.dataset.x) + parseFloat(g.dataset.w)]);
                } else { r.setAttribute('fill', r.dataset.fill); }
              });
              spans.sort(function (a, b) { return a[0] - b[0]; });
              spans.forEach(function (s) { if (s[0] >= end) { matched += s[1] - s[0]; end = s[1]; } else if (s[1] > end) { matched += s[1] - end; end = s[1]; } });
              svg.querySelector('text.matched').textContent = re === null ? '' : 'Matched: ' + (matched / total * 100).toFixed(1) + '%';
            });
          });

          var charts = document.querySelectorAll('figure.tc');
          function show(fig, t) {
            var t0 = +fig.dataset.t0, t1 = +fig.dataset.t1, x0 = +fig.dataset.x0, x1 = +fig.dataset.x1;
            var line = fig.querySelector('line.cursor'), d = data[fig.dataset.chart], readout = fig.querySelector('figcaption.readout');
            if (t < t0 || t > t1) { line.setAttribute('visibility', 'hidden'); return; }
            var x = x0 + (t - t0) / (t1 - t0) * (x1 - x0);
            line.setAttribute('x1', x); line.setAttribute('x2', x); line.setAttribute('visibility', 'visible');
            var lo = 0, hi = d.time.length - 1;
            while (lo < hi) { var mid = (lo + hi) >> 1; if (d.time[mid] === null || d.time[mid] < t) { lo = mid + 1; } else { hi = mid; } }
            readout.textContent = 't = ' + t.toFixed(2) + ' s: ' + d.names.map(function (n, k) {
              var v = d.values[k][lo];
              return n + ' ' + (v === null || v === undefined ? '–' : (+v.toPrecision(4)) + ' ' + d.unit);
            }).join(', ');
          }
          each(charts, function (fig) {
            var svg = fig.querySelector('svg');
            svg.addEventListener('mousemove', function (e) {
              var box = svg.getBoundingClientRect(), x = (e.clientX - box.left) / box.width * (+fig.dataset.width);
              var x0 = +fig.dataset.x0, x1 = +fig.dataset.x1;
              if (x < x0 || x > x1) { return; }
              var t = +fig.dataset.t0 + (x - x0) / (x1 - x0) * (+fig.dataset.t1 - +fig.dataset.t0);
              each(charts, function (f) { show(f, t); });
            });
          });
        }());
        """
}
