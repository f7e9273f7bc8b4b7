"""Identity plugins of the procedures room: who the applicant is, and how sure we are.

``base`` holds what they share (the Identity, its place in the session, the levels); each
plugin is a module: ``email`` (a verified address), ``oidc`` (OpenID Connect), ``jpki``
(a CMS signature with a certificate, JPKI style).
"""
