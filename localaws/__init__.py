"""The local stand-in for AWS: moto's server on 127.0.0.1, and the CloudTrail records AWS would emit.

Used by the demo and the tests; never deployed (Chalice packages only app.py and chalicelib/).
"""
