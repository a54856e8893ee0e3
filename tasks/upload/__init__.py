"""Which bytes, how: the one upload path of the pipeline.

:mod:`.run` takes a ready file through identity, strategy, transfer, verification and the
version stack (:func:`tasks.upload.run.run_upload`, and :func:`tasks.upload.run.upload_file`,
the Prefect task around it); each step is a module of this package.
"""
