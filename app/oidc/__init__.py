"""OpenID Connect provider: clients, signing keys and JWKS, the Authlib server, discovery."""
