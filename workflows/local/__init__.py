"""The one-machine runtime: moto's AWS emulation and ASL interpreter, hosted in process."""
