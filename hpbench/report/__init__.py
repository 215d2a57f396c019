"""Reports: ``figures`` (seaborn figures and tables from the result tables), ``text`` (Markdown headers),
``html`` (HTML export with code hidden, the index page)."""
