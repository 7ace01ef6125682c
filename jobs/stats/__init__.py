"""The monthly statistics stage, in the order the data flows: cells built from passages (`tables`), then
disclosure control on them (`sdc`), then what needs both: the published rows (`rows`), the recoding choice
(`recoding`), the release (`release`), the month's earlier releases (`revisions`), the protection of every
zone (`protection`), the job (`job`) and its command (`cli`). Imports go only that way (the `stats-flow`
contract of pyproject.toml)."""
