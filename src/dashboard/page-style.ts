// The page's stylesheet, inlined under the CSP nonce: system fonts, light and dark, compact
// tables, one colour per job state (the badges and the chart use the same ones).

/** The dashboard's CSS. */
export const PAGE_STYLE = `
:root { color-scheme: light dark; --fg: #1d2330; --mute: #6b7280; --line: #8883; --panel: #f6f7f9; --accent: #2563eb;
  --ok: #2e7d32; --warn: #b45309; --bad: #c62828; --run: #1565c0; --held: #6a1b9a; }
@media (prefers-color-scheme: dark) { :root { --fg: #e5e7eb; --mute: #9ca3af; --panel: #1f2430; --accent: #60a5fa; } }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: var(--fg); }
header { display: flex; gap: 1rem; align-items: baseline; padding: .8rem 1.5rem; border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.15rem; margin: 0; }
main { padding: 0 1.5rem 2rem; max-width: 1400px; }
h2 { font-size: 1rem; margin: 1.6rem 0 .5rem; display: flex; gap: .75rem; align-items: baseline; }
h2 small, .mute { color: var(--mute); font-weight: normal; font-size: .85rem; }
#status { color: var(--mute); font-size: .85rem; } #status.error { color: var(--bad); font-weight: 600; }
#notice { min-height: 1.2em; font-size: .9rem; } #notice.error { color: var(--bad); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .28rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; font-size: .8rem; color: var(--mute); white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.err { max-width: 28rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; color: var(--bad); }
td.zero { color: var(--mute); }
a { color: var(--accent); }
.badge { display: inline-block; padding: 0 .45rem; border-radius: .6rem; font-size: .78rem; color: #fff; background: var(--mute); white-space: nowrap; }
.completed, .running, .leader { background: var(--ok); } .retryable, .scheduled, .paused { background: var(--warn); }
.discarded, .cancelled, .failed { background: var(--bad); } .available, .executing { background: var(--run); } .held { background: var(--held); }
button { font: inherit; font-size: .85rem; padding: .1rem .55rem; cursor: pointer; }
input, select { font: inherit; font-size: .85rem; }
input.limit { width: 4.5rem; }
.filters { display: flex; gap: .75rem; flex-wrap: wrap; align-items: center; margin-bottom: .5rem; }
.pager { display: flex; gap: .5rem; align-items: center; margin-top: .5rem; }
#detail { margin-top: 1rem; padding: .75rem 1rem 1rem; background: var(--panel); border: 1px solid var(--line); border-radius: .5rem; }
#detail h2 { margin-top: 0; }
#detail dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .5rem 0; }
#detail dt { color: var(--mute); } #detail dd { margin: 0; overflow-wrap: anywhere; }
pre { background: #8881; padding: .5rem .75rem; border-radius: .35rem; overflow: auto; max-height: 22rem; margin: .25rem 0 .75rem; font-size: .8rem; white-space: pre-wrap; overflow-wrap: anywhere; }
.actions { display: flex; gap: .5rem; margin: .5rem 0; }
p.err { color: var(--bad); margin: .25rem 0; }
#chart svg { width: 100%; max-width: 960px; height: 170px; display: block; }
#chart .c { fill: var(--ok); } #chart .d { fill: var(--bad); } #chart .x { fill: var(--mute); }
#chart text { fill: var(--mute); font-size: 11px; } #chart line { stroke: var(--line); }
.legend span::before { content: ""; display: inline-block; width: .7rem; height: .7rem; margin: 0 .25rem 0 .6rem; border-radius: .15rem; vertical-align: -.05rem; }
.legend .lc::before { background: var(--ok); } .legend .ld::before { background: var(--bad); } .legend .lx::before { background: var(--mute); }
`;
