"""A Flagger-compatible load tester and manual-gate server: `canary-operator loadtester`.

It answers the URLs Flagger users point their webhooks at (Flagger's `flagger-loadtester`,
`pkg/loadtester`): manual gates under `/gate/` and `/rollback/`, and tasks at `/` (see
`server` for the routes, `tasks` for what runs). Deploy it with the chart's
`loadtester.enabled`, or start it in the lab with `Lab.start_loadtester()`.

Where it differs from Flagger's loadtester 0.38:

- `hey` is not a binary in the image: a command whose program is `hey` is parsed (`hey`)
  and its load generated in-process (`loadgen`), with hey's flags and pacing. Shell
  pipelines around hey (`hey ... | tee`) are refused; use `type: bash` and your own tools.
- Only the `cmd` and `bash` task types run; `helm`, `helmv3`, `kubectl`, `concord` and
  `ngrinder` are answered 400 ("task type X is not supported; use cmd").
- A background task starts at once instead of on the runner's next 100 ms tick; the
  duplicate rule (same canary and command still running: not started again) is Flagger's.
- A payload needs `name` and `namespace` (both non-empty strings); Flagger accepts any
  JSON object and keys an empty name's gates as ".". A `bash` task without `cmd` is 400
  here (Flagger runs `bash -c ""`).
- Routes are exact: an unknown path is 404 (Flagger's catch-all `/` ran it as a task), and
  the routes that read a payload answer POST only.
- `/gate/open` and friends answer 202 like Flagger, with a line of text instead of an
  empty body; `/metrics` has the load tester's own counters instead of Go's runtime ones.
"""
