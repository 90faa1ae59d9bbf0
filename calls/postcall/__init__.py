"""Post-call processing: the summary, structured fields and usage of an ended call.

Its own Django app (label ``postcall``) so its migrations are independent of the call path's.
The Celery tasks that drive it are in ``calls/tasks.py``.
"""
