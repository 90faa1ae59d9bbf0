"""Knowledge bases: tenant corpora of documents, chunked and indexed for phone-question retrieval."""
