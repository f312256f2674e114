"""Development tools shared by the tests, scripts/ and bench/: a throwaway
PostgreSQL cluster (pgcluster) and the real service under gunicorn
(liveservice). Never imported by the service itself, not in the image's
runtime stage."""
