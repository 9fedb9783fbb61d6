"""What the two HTTP front ends (api/ for the Images API, web/ for the dashboard) share about the
wire: the one mapping from domain errors to status codes and Glance's error bodies (errors.py),
the JSON documents of images and members (views.py), and request-body checks (bodies.py).

It sits below api/ and web/ so that neither imports the other; it knows HTTP, nothing below it does.
"""
