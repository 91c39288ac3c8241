"""`maildesk report` and the supervisors' digest: figures (data), charts, HTML and text
(render), and the scheduled mail (digest)."""
