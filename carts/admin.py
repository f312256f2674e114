from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import CartItem, Product, User

admin.site.register(User, UserAdmin)
admin.site.register(Product)
admin.site.register(CartItem)
