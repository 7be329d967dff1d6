"""Users of Schema: the custom user model (table `users`), identified by e-mail."""
