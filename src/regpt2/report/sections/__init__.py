"""One module per section of the report: each `*_section(ctx, section)` fills its blocks and
status from the inputs; `regpt2.report.build` lists them in reading order."""
