"""CX measures a contact centre reports: per contact (predicted CSAT, customer effort, NPS
risk band, each with its reasons: `rules`, `measures`), what became of each prompt
(`followthrough`), and the tables over time the QA analytics page plots (`analytics`)."""
