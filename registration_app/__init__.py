"""PeopleLens registration: enrol people from phone photos into an encrypted store of protected vectors.

Runtime API: ``PeopleStore.open(path)`` -> ``.protect(raw)`` / ``.gallery()``;
enrolment: ``peoplelens.registration_app.enroll``;
phone web app: ``peoplelens.registration_app.web.create_app``; CLI: ``peoplelens enroll | people | register-app``.
"""
